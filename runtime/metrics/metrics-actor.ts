/**
 * Every node runs a metrics actor on host 0, spawned third so that its address is well known
 * (`metricsAddress(node)`, as the registry's is): another node (the dashboard's) asks it for this
 * node's metric families, every host summed, over the ordinary actor transport.
 */
import { defineActor, type Returns } from '../actor.ts'
import { anyIncarnation, type ActorAddress } from '../address.ts'
import type { MetricFamily } from './registry.ts'

export type MetricsMsg = { type: 'families' } & Returns<MetricFamily[]>

export interface MetricsActorArgs {
  /** The node's families (NodeRuntime.metricFamilies). */
  readonly gather: () => Promise<MetricFamily[]>
}

export const metricsActorId = 3

export function metricsAddress(node: number): ActorAddress {
  return { node, host: 0, id: metricsActorId, incarnation: anyIncarnation }
}

export const metricsActor = defineActor<MetricsActorArgs, MetricsMsg, MetricsActorArgs>({
  kind: 'metrics',
  mailboxMax: 64,
  validate: (m) => ((m as { type?: unknown }).type === 'families' ? null : 'type must be "families"'),
  init: (_ctx, args) => args,
  handle(state, _msg, ctx) {
    // Gathering asks every worker host: answer later, without holding the mailbox.
    const reply = ctx.deferReply()
    state.gather().then((families) => reply.resolve(families), (error: unknown) => reply.reject(error))
  },
})
