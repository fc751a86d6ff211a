/**
 * A meta node's heartbeat to mgmtd (3FS: every service node heartbeats to the primary mgmtd, meta
 * nodes as META; reference/3fs.md §1.2). It puts the node in mgmtd's routing info with its
 * endpoint (the node's TCP listen address) and its meta actors by name: that is how a client on
 * another machine (connectFileClient) finds meta servers that are not on mgmtd's node, and how
 * `t3fs status` and the dashboard show them. A node that falls silent goes HEARTBEAT_FAILED.
 *
 * One heartbeater per node. mgmtd keeps one (incarnation, hbVersion) and one services map per
 * node, so meta actors of one node heartbeating each on their own would refuse each other as stale
 * and replace each other's services at every beat. The rule: at every round each meta actor reads
 * its node's registry for the node's meta actors (names matching /^meta\d*$/, the names clients
 * look for); the first of them in name order (shorter first: meta, meta1, meta2, …, meta10)
 * heartbeats and reports them all, the others only watch. When the heartbeater stops, its name
 * leaves the registry and the next one takes over at its own next round, with an incarnation taken
 * from the clock at the takeover — newer than its predecessor's, so mgmtd accepts it. A takeover
 * needs no agreement beyond the registry both read; a stale refusal (two heartbeaters for a moment,
 * or the same ms) makes the loser pick a new incarnation at its next round.
 *
 * A meta actor on mgmtd's own node never heartbeats (mgmtd refuses its own node id; clients find
 * meta there by name), nor does one whose name is not of the form above (no client finds it).
 */
import type { ActorContext, Message } from '../../runtime/actor.ts'
import type { ActorAddress } from '../../runtime/address.ts'
import { toT3fsError, type T3fsError } from '../../runtime/errors.ts'
import { registryAddress, type RegistryMsg } from '../../runtime/registry.ts'
import { MgmtdErrorCode, type HeartbeatInfo } from '../mgmtd/protocol.ts'
import type { MgmtdLink } from './mgmtd-link.ts'

/** The names of meta actors: what connectFileClient and the heartbeat look for in a registry. */
export const META_ACTOR_NAME = /^meta\d*$/

/** Meta actors reported per node (a node hosts a few; the rest are left out of the heartbeat). */
export const NODE_META_ACTORS_MAX = 64

/** A refusal repeated round after round is logged again every this many rounds. */
export const REFUSAL_LOG_EVERY_ROUNDS = 30

export type HeartbeatOutcome =
  /** Another meta actor of the node heartbeats (`heartbeater`), or none has a meta name (null). */
  | { readonly kind: 'watching'; readonly heartbeater: string | null }
  | { readonly kind: 'accepted'; readonly info: HeartbeatInfo; readonly routingInfoVersion: number }
  | { readonly kind: 'refused'; readonly info: HeartbeatInfo; readonly error: T3fsError }

/** Meta names in heartbeater order: shorter first, then by text (meta, meta1, meta2, …, meta10). */
export function metaNamesInOrder(names: Iterable<string>): string[] {
  return [...names].filter((n) => META_ACTOR_NAME.test(n)).sort((a, b) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0))
}

/**
 * The heartbeat of a meta actor, or null when it must not heartbeat: no mgmtd, or mgmtd on the
 * actor's own node.
 */
export function metaHeartbeatFor(selfNode: number, mgmtd: { link: MgmtdLink; node: number } | null, endpoint: string | undefined, timeoutMs: number): MetaHeartbeat | null {
  if (mgmtd === null || mgmtd.node === selfNode) return null
  return new MetaHeartbeat(mgmtd.link, endpoint, timeoutMs)
}

export class MetaHeartbeat {
  /** This actor's heartbeat life; null while it is not the node's heartbeater. */
  private incarnation: number | null = null
  private hbVersion = 0
  private refusedCode: string | null = null
  private refusedRounds = 0

  constructor(
    private readonly link: MgmtdLink,
    private readonly endpoint: string | undefined,
    private readonly timeoutMs: number,
  ) {}

  /** One round: heartbeat if this actor is the node's heartbeater. Rejects only when the node's registry does not answer. */
  async round<M extends Message>(ctx: ActorContext<M>): Promise<HeartbeatOutcome> {
    const services = await nodeMetaActors(ctx, this.timeoutMs)
    const heartbeater = metaNamesInOrder(Object.keys(services))[0] ?? null
    if (heartbeater === null || !sameActor(services[heartbeater], ctx.self.address)) {
      this.incarnation = null
      return { kind: 'watching', heartbeater }
    }
    const nowMs = ctx.clock.now()
    if (this.incarnation === null) {
      // Later than any earlier heartbeater of this node (same clock); the fraction breaks ties.
      this.incarnation = nowMs + ctx.random.next() * 1e-3
      this.hbVersion = 0
    }
    const info: HeartbeatInfo = {
      nodeId: ctx.self.address.node, type: 'META', incarnation: this.incarnation, hbVersion: ++this.hbVersion, timestampMs: nowMs,
      ...(this.endpoint === undefined ? {} : { endpoint: this.endpoint }),
      services,
    }
    try {
      const { routingInfoVersion } = await this.link.heartbeat(info)
      if (this.refusedCode !== null) ctx.log.info({ nodeId: info.nodeId, after: this.refusedRounds }, 'mgmtd accepts the META heartbeat of this node again')
      this.refusedCode = null
      this.refusedRounds = 0
      return { kind: 'accepted', info, routingInfoVersion }
    } catch (e) {
      const error = toT3fsError(e)
      if (error.code === MgmtdErrorCode.STALE_HEARTBEAT) this.incarnation = null
      this.noteRefusal(ctx, info, error)
      return { kind: 'refused', info, error }
    }
  }

  private noteRefusal<M extends Message>(ctx: ActorContext<M>, info: HeartbeatInfo, error: T3fsError): void {
    const repeated = this.refusedCode === error.code
    this.refusedRounds = repeated ? this.refusedRounds + 1 : 1
    this.refusedCode = error.code
    if (repeated && this.refusedRounds % REFUSAL_LOG_EVERY_ROUNDS !== 0) return
    ctx.log.warn(
      { nodeId: info.nodeId, code: error.code, err: error.message, rounds: this.refusedRounds },
      'mgmtd did not take the META heartbeat of this node (clients on other machines cannot find its meta servers until it does); it is sent again at the next mgmtd_heartbeat_interval',
    )
  }
}

/** The node's meta actors by name, from its registry (the first NODE_META_ACTORS_MAX in heartbeater order). */
async function nodeMetaActors<M extends Message>(ctx: ActorContext<M>, timeoutMs: number): Promise<Record<string, ActorAddress>> {
  const registry = ctx.refFor<RegistryMsg>(registryAddress(ctx.self.address.node))
  const names = metaNamesInOrder((await ctx.ask(registry, { type: 'names' as const }, { timeoutMs })) as string[]).slice(0, NODE_META_ACTORS_MAX)
  const addresses = await Promise.all(names.map((name) => ctx.ask(registry, { type: 'lookup' as const, name }, { timeoutMs }) as Promise<ActorAddress | null>))
  const services: Record<string, ActorAddress> = {}
  names.forEach((name, i) => {
    const address = addresses[i]
    if (address !== null) services[name] = address // gone between the two reads: left out
  })
  return services
}

function sameActor(a: ActorAddress | undefined, b: ActorAddress): boolean {
  return a !== undefined && a.node === b.node && a.host === b.host && a.id === b.id
}
