/** The resolved node profile: validated, defaults applied, units parsed, paths absolute. */

export interface Address {
  readonly host: string
  readonly port: number
}

export interface ActorEntry {
  readonly name: string
  /** Absolute path of the module that defines the actor. */
  readonly module: string
  readonly export: string
  readonly host: number
  readonly params: Readonly<Record<string, unknown>>
}

export interface PeerEntry {
  readonly node: number
  readonly address: Address
}

export type KvBackend = 'lmdb' | 'memory' | 'fdb'
export type TransportKind = 'auto' | 'tcp' | 'rdma'
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

export interface TransportSettings {
  readonly kind: TransportKind
  readonly heartbeatIntervalMs: number
  readonly heartbeatTimeoutMs: number
  readonly reconnectMinMs: number
  readonly reconnectMaxMs: number
  readonly maxFrameBytes: number
  readonly highWaterBytes: number
  readonly maxPendingOps: number
  readonly opTimeoutMs: number
  readonly maxRegions: number
  /** One-sided transfers with nodes on this machine by a direct copy (transport/same-host.ts); absent: true. */
  readonly sameHostCopy?: boolean
}

export interface DashboardSettings {
  readonly listen: Address
  /** The node whose mgmtd is asked for the cluster's state. */
  readonly mgmtdNode: number
  readonly refreshIntervalMs: number
  readonly historyMs: number
}

export interface Profile {
  /** Absolute path of the profile file that was loaded. */
  readonly file: string
  /** Every file that contributed, base files first. */
  readonly files: readonly string[]
  readonly node: { readonly id: number; readonly clusterId: string; readonly root: string }
  readonly listen: { readonly tcp: Address; readonly rdma?: Address }
  readonly placement: { readonly numaDomains: readonly number[]; readonly hostsPerDomain: number }
  readonly kv: { readonly backend: KvBackend; readonly path: string; readonly clusterFile?: string }
  /** The disk handed to actors as ctx.disk (absolute root), when the profile sets [disk] root. */
  readonly disk: { readonly root: string } | null
  /** Size classes of the buffer pool (empty: the runtime's defaults). */
  readonly bufferPool: readonly { readonly slotBytes: number; readonly slots: number }[]
  readonly transport: TransportSettings
  readonly log: { readonly level: LogLevel }
  /** GET /metrics on this address, when [metrics] enabled. */
  readonly metrics: { readonly listen: Address } | null
  /** The live dashboard, when [dashboard] enabled. */
  readonly dashboard: DashboardSettings | null
  readonly shutdown: { readonly gracePeriodMs: number }
  readonly peers: readonly PeerEntry[]
  readonly actors: readonly ActorEntry[]
  /** Child nodes to launch with this one (absolute profile paths). */
  readonly launch: readonly { readonly profile: string }[]
  /** What to set up in mgmtd at the first start (null: nothing). */
  readonly bootstrap: BootstrapSettings | null
}

export interface BootstrapSettings {
  /** Absolute path of the chains CSV. */
  readonly chains: string
  /** Absolute path of the chain table CSV. */
  readonly chainTable: string
  readonly tableId: number
  readonly chunkSizeBytes: number
  /** Default: the number of chains in the table. */
  readonly stripeSize: number | null
  readonly waitServingMs: number
}

/** Total worker hosts of a profile: domains × hosts per domain. */
export function hostCount(profile: Pick<Profile, 'placement'>): number {
  return profile.placement.numaDomains.length * profile.placement.hostsPerDomain
}
