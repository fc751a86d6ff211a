import type { AnyActorDefinition } from './actor.ts'
import { T3fsError } from './errors.ts'
import type { DefinitionRef } from './host-control.ts'

/** Imports an actor definition named by module URL and export, with a clear error when it is not one. */
export async function loadDefinition(ref: DefinitionRef): Promise<AnyActorDefinition> {
  let module: Record<string, unknown>
  try {
    module = (await import(ref.module)) as Record<string, unknown>
  } catch (error) {
    throw new T3fsError('ERR_DEFINITION_NOT_FOUND', `cannot import actor module ${ref.module}: ${error instanceof Error ? error.message : String(error)}`, {
      module: ref.module,
    })
  }
  const definition = module[ref.export] as Partial<AnyActorDefinition> | undefined
  if (definition === undefined || typeof definition.handle !== 'function' || typeof definition.init !== 'function') {
    throw new T3fsError(
      'ERR_DEFINITION_NOT_FOUND',
      `${ref.module} has no actor definition exported as ${JSON.stringify(ref.export)}; accepted: an export made with defineActor(...)`,
      { module: ref.module, export: ref.export },
    )
  }
  return definition as AnyActorDefinition
}
