/** The resolved launch plan of a profile: what `t3fs launch` will start, printed by --dry-run. */
import { pathToFileURL } from 'node:url'
import type { Profile } from '../runtime/profile/index.ts'
import { formatDurationMs, formatSizeBytes } from '../runtime/profile/index.ts'
import type { TransportChoice } from '../runtime/transport/index.ts'
import { defaultPoolClasses } from '../runtime/buffer-pool.ts'

export interface LaunchPlan {
  readonly profile: string
  readonly files: readonly string[]
  readonly node: number
  readonly clusterId: string
  readonly listen: string
  readonly transport: { readonly kind: 'tcp' | 'rdma'; readonly requested: string; readonly reason: string }
  readonly hosts: ReadonlyArray<{ readonly host: number; readonly domain: number }>
  readonly kv: { readonly backend: string; readonly path: string }
  readonly disk: string | null
  /** Size classes of the buffer pool, smallest first. */
  readonly bufferPool: ReadonlyArray<{ readonly slotBytes: number; readonly slots: number }>
  readonly peers: ReadonlyArray<{ readonly node: number; readonly address: string }>
  readonly actors: ReadonlyArray<{ readonly name: string; readonly module: string; readonly export: string; readonly host: number; readonly params: Readonly<Record<string, unknown>> }>
  readonly heartbeat: { readonly intervalMs: number; readonly timeoutMs: number }
  readonly shutdownGraceMs: number
  readonly logLevel: string
  /** URL of GET /metrics, or null when [metrics] is off. */
  readonly metrics: string | null
  /** URL of the dashboard, or null when [dashboard] is off. */
  readonly dashboard: string | null
}

export function buildPlan(profile: Profile, choice: TransportChoice): LaunchPlan {
  const hosts = profile.placement.numaDomains.flatMap((domain, d) =>
    Array.from({ length: profile.placement.hostsPerDomain }, (_, i) => ({ host: 1 + d * profile.placement.hostsPerDomain + i, domain })),
  )
  return {
    profile: profile.file,
    files: profile.files,
    node: profile.node.id,
    clusterId: profile.node.clusterId,
    listen: `${profile.listen.tcp.host}:${profile.listen.tcp.port}`,
    transport: { kind: choice.kind, requested: profile.transport.kind, reason: choice.reason },
    hosts,
    kv: { backend: profile.kv.backend, path: profile.kv.path },
    disk: profile.disk?.root ?? null,
    bufferPool: profile.bufferPool.length > 0 ? profile.bufferPool : defaultPoolClasses,
    peers: profile.peers.filter((p) => p.node !== profile.node.id).map((p) => ({ node: p.node, address: `${p.address.host}:${p.address.port}` })),
    actors: profile.actors.map((a) => ({ name: a.name, module: pathToFileURL(a.module).href, export: a.export, host: a.host, params: a.params })),
    heartbeat: { intervalMs: profile.transport.heartbeatIntervalMs, timeoutMs: profile.transport.heartbeatTimeoutMs },
    shutdownGraceMs: profile.shutdown.gracePeriodMs,
    logLevel: profile.log.level,
    metrics: profile.metrics === null ? null : `http://${profile.metrics.listen.host}:${profile.metrics.listen.port}/metrics`,
    dashboard: profile.dashboard === null ? null : `http://${profile.dashboard.listen.host}:${profile.dashboard.listen.port}/`,
  }
}

export function formatPlan(plan: LaunchPlan, profile: Profile): string {
  const t = profile.transport
  const lines = [
    `node ${plan.node} of cluster ${plan.clusterId}`,
    `  profile    ${plan.files.join(' <- ')}`,
    `  listen     tcp ${plan.listen}`,
    `  transport  ${plan.transport.kind} (requested ${plan.transport.requested}): ${plan.transport.reason}`,
    `             heartbeat every ${formatDurationMs(t.heartbeatIntervalMs)}, peer down after ${formatDurationMs(t.heartbeatTimeoutMs)}; ` +
      `max frame ${formatSizeBytes(t.maxFrameBytes)}, high water ${formatSizeBytes(t.highWaterBytes)}, ${t.maxPendingOps} one-sided ops in flight`,
    `  hosts      0 (main thread)${plan.hosts.map((h) => `, ${h.host} (domain ${h.domain})`).join('')}`,
    `  kv         ${plan.kv.backend} at ${plan.kv.path}`,
    `  disk       ${plan.disk ?? '(none: no actor gets ctx.disk)'}`,
    `  pool       ${plan.bufferPool.map((c) => `${c.slots} × ${formatSizeBytes(c.slotBytes)}`).join(', ')} (${formatSizeBytes(plan.bufferPool.reduce((sum, c) => sum + c.slots * c.slotBytes, 0))})`,
    `  peers      ${plan.peers.length === 0 ? '(none)' : plan.peers.map((p) => `${p.node}@${p.address}`).join(', ')}`,
    `  actors     ${plan.actors.length === 0 ? '(none)' : ''}`,
    ...plan.actors.map((a) => `    ${a.name} = ${a.export} from ${a.module} on host ${a.host}${Object.keys(a.params).length ? ` ${JSON.stringify(a.params)}` : ''}`),
    `  metrics    ${plan.metrics ?? '(off)'}`,
    `  dashboard  ${plan.dashboard === null ? '(off)' : `${plan.dashboard} (cluster state from node ${profile.dashboard?.mgmtdNode}'s mgmtd, every ${formatDurationMs(profile.dashboard!.refreshIntervalMs)})`}`,
    `  shutdown   grace period ${formatDurationMs(plan.shutdownGraceMs)}; log level ${plan.logLevel} (stderr)`,
  ]
  return lines.filter((l) => l !== '').join('\n') + '\n'
}
