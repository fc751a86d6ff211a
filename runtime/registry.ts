import { defineActor, type Returns } from './actor.ts'
import { anyIncarnation, type ActorAddress } from './address.ts'

/**
 * Every node runs one registry on host 0, spawned first so that its address is well known
 * (`registryAddress(node)`): another process asks it for the address of a named actor.
 */
export type RegistryMsg =
  | ({ type: 'lookup'; name: string } & Returns<ActorAddress | null>)
  | ({ type: 'names' } & Returns<string[]>)

/** The node's named actors: what the registry answers from. */
export interface NameTable {
  get(name: string): ActorAddress | undefined
  keys(): Iterable<string>
}

export interface RegistryArgs {
  readonly names: NameTable
}

export const registryActorId = 1

export function registryAddress(node: number): ActorAddress {
  return { node, host: 0, id: registryActorId, incarnation: anyIncarnation }
}

export const registry = defineActor<RegistryArgs, RegistryMsg, RegistryArgs>({
  kind: 'registry',
  validate: (m) => ((m as { type: string }).type === 'lookup' && typeof (m as { name?: unknown }).name !== 'string' ? 'name must be a string' : null),
  init: (_ctx, args) => args,
  handle(state, msg, ctx) {
    if (msg.type === 'lookup') ctx.reply(state.names.get(msg.name) ?? null)
    else ctx.reply([...state.names.keys()].sort())
  },
})
