/**
 * Meta's view of mgmtd: routing info (chain tables and chain versions, to place files and reach
 * storage), the live client list (to prune sessions of dead clients) and the META node's heartbeat. Found by name through a
 * node's registry, or handed over in-process; a standby's NOT_PRIMARY answer naming the primary is
 * followed. Failures are reported to the caller, which keeps its last view.
 */
import type { ActorContext, ActorRef, Message } from '../../runtime/actor.ts'
import type { ActorAddress } from '../../runtime/address.ts'
import { isT3fsError } from '../../runtime/errors.ts'
import { registryAddress, type RegistryMsg } from '../../runtime/registry.ts'
import { MgmtdErrorCode, type HeartbeatInfo, type MgmtdMsg, type RoutingInfo } from '../mgmtd/protocol.ts'

export interface MgmtdLink {
  routingInfo(sinceVersion: number | null): Promise<RoutingInfo | null>
  liveClients(): Promise<ReadonlySet<string>>
  /** A META node's heartbeat (mgmtd-heartbeat.ts); a refusal rejects with mgmtd's coded error. */
  heartbeat(info: HeartbeatInfo): Promise<{ routingInfoVersion: number }>
}

export interface MgmtdLocation {
  readonly ref?: ActorRef<MgmtdMsg>
  readonly node?: number
  readonly name?: string
}

export function mgmtdLink<M extends Message>(ctx: ActorContext<M>, where: MgmtdLocation, timeoutMs: number): MgmtdLink {
  let ref: ActorRef<MgmtdMsg> | null = where.ref ?? null
  const find = async (): Promise<ActorRef<MgmtdMsg>> => {
    if (ref !== null) return ref
    const registry = ctx.refFor<RegistryMsg>(registryAddress(where.node ?? ctx.self.address.node))
    const address = (await ctx.ask(registry, { type: 'lookup' as const, name: where.name ?? 'mgmtd' }, { timeoutMs })) as ActorAddress | null
    if (address === null) throw new Error(`no actor named ${where.name ?? 'mgmtd'} on node ${where.node ?? ctx.self.address.node}`)
    ref = ctx.refFor<MgmtdMsg>(address)
    return ref
  }
  const ask = async <Q extends MgmtdMsg>(message: Q) => {
    const to = await find()
    try {
      return await ctx.ask(to, message, { timeoutMs })
    } catch (error) {
      const primary = isT3fsError(error, MgmtdErrorCode.NOT_PRIMARY) ? (error.details.primaryAddress as ActorAddress | null) : null
      if (primary == null) {
        if (where.ref === undefined) ref = null // look it up again next time (a restarted node)
        throw error
      }
      ref = ctx.refFor<MgmtdMsg>(primary)
      // The primary it names may be a life of mgmtd that is gone (its lease outlived it): look up again next time.
      return ctx.ask(ref, message, { timeoutMs }).catch((e: unknown) => {
        if (where.ref === undefined) ref = null
        throw e
      })
    }
  }
  return {
    routingInfo: (since) => ask({ type: 'get-routing-info', ...(since === null ? {} : { routingInfoVersion: since }) }),
    liveClients: async () => new Set((await ask({ type: 'list-client-sessions' })).map((s) => s.clientId)),
    heartbeat: (info) => ask({ type: 'heartbeat', info }),
  }
}
