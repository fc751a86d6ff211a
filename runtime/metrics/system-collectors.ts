/**
 * The runtime's own metrics of one host, read when a scrape comes (prom-client `collect`), so the
 * actor hot path pays nothing: mailbox depths, actors and messages handled per actor kind, asks
 * waiting, and on host 0 the node's buffer pool (one pool per node, shared by its hosts).
 */
import { Counter, Gauge } from 'prom-client'
import type { BufferPool } from '../buffer-pool.ts'
import type { MetricsRegistry } from './registry.ts'

/** What the collectors read of an ActorSystem (kept narrow: no import cycle with actor-system.ts). */
export interface CollectedSystem {
  readonly host: number
  readonly bufferPool: BufferPool | null
  /** Live actors with their kind, mailbox depth and messages handled. */
  forEachCell(visit: (kind: string, depth: number, handled: number) => void): void
  /** Messages handled by actors that have stopped, per kind (the counter must never go back). */
  readonly retiredHandled: ReadonlyMap<string, number>
  pendingAsks(): number
}

interface KindTotals { actors: number; depth: number; depthMax: number; handled: number }

export function registerSystemCollectors(registry: MetricsRegistry, system: CollectedSystem): void {
  const registers = [registry.prom]
  let totals = new Map<string, KindTotals>()
  // The first collector of a scrape walks the cells once; the others read what it found.
  const walk = (): void => {
    totals = new Map()
    const of = (kind: string): KindTotals => {
      let t = totals.get(kind)
      if (t === undefined) totals.set(kind, (t = { actors: 0, depth: 0, depthMax: 0, handled: 0 }))
      return t
    }
    system.forEachCell((kind, depth, handled) => {
      const t = of(kind)
      t.actors++
      t.depth += depth
      t.depthMax = Math.max(t.depthMax, depth)
      t.handled += handled
    })
    for (const [kind, handled] of system.retiredHandled) of(kind).handled += handled
  }
  new Gauge({
    name: 't3fs_actors', help: 'live actors per actor kind', labelNames: ['kind'], registers,
    collect() {
      walk()
      this.reset()
      for (const [kind, t] of totals) if (t.actors > 0) this.set({ kind }, t.actors)
    },
  })
  new Gauge({
    name: 't3fs_actor_mailbox_depth', help: 'messages waiting in the mailboxes of the actors of a kind (summed)', labelNames: ['kind'], registers,
    collect() {
      this.reset()
      for (const [kind, t] of totals) if (t.actors > 0) this.set({ kind }, t.depth)
    },
  })
  new Gauge({
    name: 't3fs_actor_mailbox_depth_max', help: 'the deepest mailbox among the actors of a kind', labelNames: ['kind'], registers, aggregator: 'max',
    collect() {
      this.reset()
      for (const [kind, t] of totals) if (t.actors > 0) this.set({ kind }, t.depthMax)
    },
  })
  new Counter({
    name: 't3fs_actor_messages_total', help: 'messages handled by the actors of a kind', labelNames: ['kind'], registers,
    collect() {
      this.reset()
      for (const [kind, t] of totals) this.inc({ kind }, t.handled)
    },
  })
  new Gauge({
    name: 't3fs_actor_pending_asks', help: 'asks sent from this node still waiting for their reply', registers,
    collect() {
      this.set(system.pendingAsks())
    },
  })
  if (system.host === 0 && system.bufferPool !== null) registerPoolCollectors(registry, system.bufferPool)
}

function registerPoolCollectors(registry: MetricsRegistry, pool: BufferPool): void {
  const classes = pool.memory.classes
  new Gauge({
    name: 't3fs_buffer_pool_slots_in_use', help: 'buffer pool slots held, per slot size in bytes', labelNames: ['slot_bytes'], registers: [registry.prom],
    collect() {
      const inUse = pool.inUse()
      classes.forEach((c, i) => this.set({ slot_bytes: c.slotBytes }, inUse[i]))
    },
  })
  new Gauge({
    name: 't3fs_buffer_pool_slots', help: 'buffer pool slots, per slot size in bytes', labelNames: ['slot_bytes'], registers: [registry.prom],
    collect() {
      for (const c of classes) this.set({ slot_bytes: c.slotBytes }, c.slots)
    },
  })
}
