/**
 * mgmtd's messages and the data they carry (after 3FS's MgmtdServiceDef / RoutingInfo,
 * reference/3fs.md §1.2). Other components and the admin CLI import only this file.
 * Ids are plain numbers (safe integers); 3FS's u64 TargetIds fit its generator's encoding.
 */
import type { ActorRef, Returns } from '../../runtime/actor.ts'
import type { ActorAddress } from '../../runtime/address.ts'

export const PUBLIC_STATES = ['SERVING', 'LASTSRV', 'SYNCING', 'WAITING', 'OFFLINE'] as const
export type PublicState = (typeof PUBLIC_STATES)[number]
export const LOCAL_STATES = ['UPTODATE', 'ONLINE', 'OFFLINE'] as const
export type LocalState = (typeof LOCAL_STATES)[number]
export const NODE_TYPES = ['MGMTD', 'META', 'STORAGE', 'CLIENT', 'FUSE'] as const
export type NodeType = (typeof NODE_TYPES)[number]
export type NodeStatus = 'HEARTBEAT_CONNECTED' | 'HEARTBEAT_FAILED' | 'DISABLED' | 'PRIMARY_MGMTD' | 'STANDBY_MGMTD'

export interface NodeInfo {
  nodeId: number
  type: NodeType
  status: NodeStatus
  hostname: string
  /** Virtual or wall-clock ms of the last accepted heartbeat (0 = never since this primary took over). */
  lastHeartbeatMs: number
  /** The node's TCP listen address "host:port", as its heartbeats report it (null: never reported). */
  endpoint: string | null
  /** The node's service actors by name (a storage node: `storage`), as its heartbeats report them. */
  services: Record<string, ActorAddress>
}

export interface ChainTarget {
  targetId: number
  publicState: PublicState
}

export interface ChainInfo {
  chainId: number
  chainVersion: number
  /** In chain order, head first. */
  targets: ChainTarget[]
}

export interface ChainTable {
  tableId: number
  version: number
  chains: number[]
  desc: string
}

export interface TargetInfo {
  targetId: number
  chainId: number
  publicState: PublicState
  localState: LocalState
  nodeId: number | null
  diskIndex: number | null
  usedSizeBytes: number
  /** The target's chain-replica actor, where clients and peers send its storage messages (null: never reported). */
  address: ActorAddress | null
  /** While the target is SYNCING: how far its predecessor got copying the chain's chunks to it. */
  syncProgress: SyncProgress | null
}

/** A sync of a chain's chunks to a SYNCING target, as its predecessor reports it. */
export interface SyncProgress {
  /** The SYNCING target being filled. */
  targetId: number
  /** Chunks compared so far, of `totalChunks` (the union of both sides' chunk lists). */
  doneChunks: number
  totalChunks: number
  /** Chunks that differed and were copied (or removed) so far. */
  copiedChunks: number
  copiedBytes: number
}

/** A target a storage node reports that belongs to no chain: a spare for re-replication. */
export interface OrphanTarget {
  targetId: number
  nodeId: number
  diskIndex: number | null
  localState: LocalState
  usedSizeBytes: number
  address: ActorAddress | null
  lastSeenMs: number
}

/** Automatic re-replication under way: a spare added to a chain in place of a target OFFLINE too long. */
export interface Replacement {
  chainId: number
  deadTargetId: number
  spareTargetId: number
  /** On the primary's clock. */
  startedMs: number
}

export interface RoutingInfo {
  routingInfoVersion: number
  /** True until this primary has heard from its nodes for one heartbeat-fail interval. */
  bootstrapping: boolean
  nodes: NodeInfo[]
  /** Every version of every table, oldest first. */
  chainTables: ChainTable[]
  chains: ChainInfo[]
  targets: TargetInfo[]
  /** Targets reported by storage nodes that belong to no chain (spares). */
  orphanTargets: OrphanTarget[]
  /** Re-replications under way, one per chain at most. */
  replacements: Replacement[]
}

export interface LocalTargetInfo {
  targetId: number
  localState: LocalState
  diskIndex?: number
  usedSizeBytes?: number
  /** The chain version the storage node last saw; older than the chain's → the entry is ignored. */
  chainVersion?: number
  /** The target's chain-replica actor. */
  address?: ActorAddress
  /** Set by a target that is syncing its SYNCING successor: the sync's progress. */
  sync?: SyncProgress
}

export interface HeartbeatInfo {
  nodeId: number
  type: NodeType
  hostname?: string
  /** Identifies one run of the node (e.g. its start time); a new, larger one means it restarted. */
  incarnation: number
  /** Grows with every heartbeat of one incarnation; ≤ the last seen → stale, rejected. */
  hbVersion: number
  /** The sender's clock; rejected when it deviates more than the valid window. */
  timestampMs: number
  targets?: LocalTargetInfo[]
  /** The node's TCP listen address "host:port" (where admin tools reach it). */
  endpoint?: string
  /** The node's service actors by name. */
  services?: Record<string, ActorAddress>
}

export interface ClientSession {
  clientId: string
  nodeId: number | null
  description: string
  startMs: number
  lastExtendMs: number
}

export interface ClusterInfo {
  clusterId: string
  chainTableId: number
  chunkSizeBytes: number
  stripeSize: number
}

export interface PrimaryInfo {
  nodeId: number
  /** The primary mgmtd actor's address (null if the holder did not record one). */
  address: ActorAddress | null
  /** Lease end on the lease holder's clock. */
  leaseEndMs: number
}

export interface MgmtdStatus {
  nodeId: number
  primary: boolean
  primaryNodeId: number | null
  routingInfoVersion: number
}

export type UpdateChainMode = 'add' | 'remove'

/** What subscribers receive, on every routing change. */
export interface RoutingUpdate {
  type: 'routing-info'
  info: RoutingInfo
}

export type MgmtdMsg =
  // 3FS RPCs
  | ({ type: 'get-primary-mgmtd' } & Returns<PrimaryInfo | null>)
  | ({ type: 'heartbeat'; info: HeartbeatInfo } & Returns<{ routingInfoVersion: number }>)
  | ({ type: 'register-node'; nodeId: number; nodeType: NodeType; hostname?: string } & Returns<NodeInfo>)
  | ({ type: 'unregister-node'; nodeId: number } & Returns<NodeInfo>)
  | ({ type: 'enable-node'; nodeId: number } & Returns<NodeInfo>)
  | ({ type: 'disable-node'; nodeId: number } & Returns<NodeInfo>)
  | ({ type: 'get-routing-info'; routingInfoVersion?: number } & Returns<RoutingInfo | null>)
  | ({ type: 'set-chain-table'; tableId: number; chains: number[]; desc?: string } & Returns<ChainTable>)
  | ({ type: 'set-chains'; chains: { chainId: number; targets: number[] }[] } & Returns<ChainInfo[]>)
  | ({ type: 'update-chain'; chainId: number; targetId: number; mode: UpdateChainMode } & Returns<ChainInfo>)
  | ({ type: 'rotate-lastsrv'; chainId: number } & Returns<ChainInfo>)
  | ({ type: 'offline-target'; targetId: number } & Returns<TargetInfo>)
  | ({ type: 'extend-client-session'; clientId: string; nodeId?: number; description?: string } & Returns<ClientSession>)
  | ({ type: 'list-client-sessions' } & Returns<ClientSession[]>)
  | ({ type: 'get-client-session'; clientId: string } & Returns<ClientSession | null>)
  | ({ type: 'init-cluster'; cluster: ClusterInfo } & Returns<ClusterInfo>)
  | ({ type: 'get-cluster' } & Returns<ClusterInfo | null>)
  | { type: 'subscribe'; subscriber: ActorRef<RoutingUpdate> }
  | { type: 'unsubscribe'; subscriber: ActorRef<RoutingUpdate> }
  | ({ type: 'status' } & Returns<MgmtdStatus>)
  // timers (sent by mgmtd to itself)
  | { type: 'tick-lease' }
  | { type: 'tick-check' }
  | { type: 'tick-update-chains' }

/** Stable error codes of mgmtd. */
export const MgmtdErrorCode = {
  NOT_PRIMARY: 'ERR_MGMTD_NOT_PRIMARY',
  BAD_REQUEST: 'ERR_MGMTD_BAD_REQUEST',
  NODE_NOT_FOUND: 'ERR_MGMTD_NODE_NOT_FOUND',
  NODE_DISABLED: 'ERR_MGMTD_NODE_DISABLED',
  NODE_TYPE_MISMATCH: 'ERR_MGMTD_NODE_TYPE_MISMATCH',
  STALE_HEARTBEAT: 'ERR_MGMTD_STALE_HEARTBEAT',
  CLOCK_SKEW: 'ERR_MGMTD_CLOCK_SKEW',
  CHAIN_NOT_FOUND: 'ERR_MGMTD_CHAIN_NOT_FOUND',
  TARGET_NOT_FOUND: 'ERR_MGMTD_TARGET_NOT_FOUND',
  CHAIN_CONFLICT: 'ERR_MGMTD_CHAIN_CONFLICT',
  BAD_CHAIN_STATE: 'ERR_MGMTD_BAD_CHAIN_STATE',
  CLUSTER_ALREADY_INITIALIZED: 'ERR_MGMTD_CLUSTER_ALREADY_INITIALIZED',
  CLUSTER_NOT_INITIALIZED: 'ERR_MGMTD_CLUSTER_NOT_INITIALIZED',
  LEASE_LOST: 'ERR_MGMTD_LEASE_LOST',
} as const
