/**
 * The storage service's messages (after 3FS's StorageSerde, reference/3fs.md §1.4, §3.3–§3.6).
 * Clients, peers, the admin CLI and mgmtd-facing code import only this file.
 *
 * Two kinds of actor speak it:
 * - a target's **chain replica** (one per storage target; its address is in mgmtd's routing info,
 *   `TargetInfo.address`): writes, forwarded updates, reads, chunk queries, sync;
 * - a node's **storage service** (one per storage node; `NodeInfo.services.storage`): target
 *   management (create/remove/offline/list) and space.
 *
 * Exactly-once: a client tags every update with `{ clientId, requestId, channel: { id, seqnum } }`
 * and reuses the tag on retries; each replica remembers per (client, chain, channel) the last
 * seqnum and its result (3FS's ReliableUpdate, §3.3 step 2).
 */
import type { Returns } from '../../runtime/actor.ts'
import type { ActorAddress } from '../../runtime/address.ts'
import type { PooledBuffer } from '../../runtime/buffer-pool.ts'
import type { RegionHandle } from '../../runtime/regions-actor.ts'
import type { LocalState, PublicState, RoutingUpdate } from '../mgmtd/protocol.ts'
import type { ChunkId } from './chunk-id.ts'

export type { ChunkId } from './chunk-id.ts'

/** A half-open range of chunk ids [begin, end). */
export interface ChunkIdRange {
  begin: ChunkId
  end: ChunkId
}

export interface UpdateChannel {
  /** One of the client's channels (3FS: a pool of 1024); one update in flight per channel. */
  id: number
  /** Grows with every new update the client sends on any channel; a retry keeps its seqnum. */
  seqnum: number
}

export interface MessageTag {
  clientId: string
  requestId: number
  channel: UpdateChannel
}

/**
 * Where the bytes of an update or a read are:
 * - `region`: a registered pool buffer of the sender; the receiver reads it one-sidedly (the write
 *   path pulls) or writes into it (the read path pushes);
 * - `inline`: carried in the message itself (a PooledBuffer crosses without a copy inside a node);
 * - `none`: no bytes (remove, truncate, or a read answered inline).
 */
export type DataRef =
  | { kind: 'region'; region: RegionHandle; offset: number }
  | { kind: 'inline'; bytes: PooledBuffer | Uint8Array }
  | { kind: 'none' }

export const UPDATE_TYPES = ['write', 'remove', 'truncate', 'extend'] as const
export type UpdateType = (typeof UPDATE_TYPES)[number]

export interface ChunkKey {
  chainId: number
  /** The sender's chain version; a replica at another version refuses (ERR_STORAGE_ROUTING_VERSION). */
  chainVersion: number
  chunkId: ChunkId
}

export interface UpdateIO {
  key: ChunkKey
  type: UpdateType
  /** write: where in the chunk; truncate/extend: offset 0 and length = the chunk's new length. */
  offset: number
  length: number
  chunkSizeBytes: number
  data: DataRef
  /** CRC32C of the `length` bytes (write); for a syncing full-chunk write, of the whole chunk. */
  checksum: number
  /** 0 from a client: the head assigns commitVersion + 1; the head's number travels down the chain. */
  updateVersion: number
}

export interface UpdateOptions {
  fromClient: boolean
  /** A full-chunk replace to a SYNCING successor: taken unconditionally, with its given versions. */
  isSyncing: boolean
  /** With isSyncing: the chain version the copied chunk was committed at. */
  commitChainVersion: number
}

export interface IOResult {
  lengthBytes: number
  commitVersion: number
  updateVersion: number
  /** CRC32C of the whole chunk after the update. */
  checksum: number
  commitChainVersion: number
}

export interface ReadIO {
  key: ChunkKey
  offset: number
  length: number
  /** `region`: the replica writes the bytes there; `none`: the bytes come back in the result. */
  into: DataRef
}

export type ReadResult =
  | {
    ok: true; lengthBytes: number; commitVersion: number; chunkChecksum: number
    /** The bytes (a replica's own batch-read). */
    data?: PooledBuffer | Uint8Array
    /** From a node's batch-read (batch-reply.ts): where the bytes start in the reply's `data`. */
    at?: number
  }
  | { ok: false; code: string; message: string }

/**
 * A node's answer to a batch-read (packed and unpacked by batch-reply.ts): a 16-byte record per
 * read, in order, the failed reads' errors, and the bytes of every read answered inline in one
 * buffer (each record's `at`): one value to encode, send and decode per batch instead of an
 * object and a buffer per read; null when no read brought bytes back. The buffer is a pool slot
 * when the request allowed one that large (`slotReplyBytesMax`): it crosses to the client's node
 * out of band into a slot there, so neither side allocates memory per batch (the asker releases
 * it); otherwise plain bytes.
 */
export interface BatchReadReply {
  records: Uint8Array
  errors: { index: number; code: string; message: string }[]
  data: PooledBuffer | Uint8Array | null
}

/** A chunk's metadata, as sync and queries exchange it (3FS ChunkMeta, §3.6). */
export interface ChunkMeta {
  chunkId: ChunkId
  commitVersion: number
  /** commitVersion, or commitVersion + 1 while a version is pending. */
  updateVersion: number
  /** The chain version the committed version was committed at. */
  chainVersion: number
  lengthBytes: number
  /** CRC32C of the committed content. */
  checksum: number
  /** Length and checksum of the pending version, when there is one. */
  pending: { lengthBytes: number; checksum: number } | null
}

export interface LastChunk {
  /** The last existing chunk in the range (null: none). */
  lastChunkId: ChunkId | null
  lastChunkLengthBytes: number
  /** Sum of the lengths of the chunks in the range. */
  totalLengthBytes: number
  chunkCount: number
  /** The scan stopped at its limit: more chunks may follow. */
  more: boolean
}

export interface TargetSummary {
  targetId: number
  chainId: number | null
  nodeId: number
  localState: LocalState
  publicState: PublicState | null
  chainVersion: number | null
  usedSizeBytes: number
  chunkCount: number
  address: ActorAddress
}

export interface SpaceInfo {
  totalBytes: number
  freeBytes: number
  targets: { targetId: number; usedSizeBytes: number }[]
}

/** What a storage node tells a target's replica: its place in the chain and its local state. */
export interface TargetView {
  targetId: number
  localState: LocalState
  /** Null while the target is in no chain (a spare) or the node has no routing yet. */
  chain: ChainView | null
  /** On the node's clock: past it the replica serves nothing (no mgmtd heartbeat was answered in time). */
  leaseUntilMs: number
  routingInfoVersion: number
}

export interface ChainView {
  chainId: number
  chainVersion: number
  publicState: PublicState
  /** First in the chain and SERVING/SYNCING (3FS TargetMap: the head takes client writes). */
  isHead: boolean
  /** The next target if SERVING or SYNCING; null → this target is the tail. */
  successor: { targetId: number; address: ActorAddress | null; publicState: PublicState } | null
  /** Chain members, head first, as mgmtd lists them. */
  targets: { targetId: number; publicState: PublicState; address: ActorAddress | null }[]
}

/** Messages of a target's chain replica. */
export type ReplicaMsg =
  | ({ type: 'write'; io: UpdateIO; tag: MessageTag; retryCount?: number } & Returns<IOResult>)
  | ({ type: 'update'; io: UpdateIO; options: UpdateOptions; tag?: MessageTag } & Returns<IOResult>)
  | ({ type: 'batch-read'; ios: ReadIO[] } & Returns<ReadResult[]>)
  | ({ type: 'query-last-chunk'; chainId: number; chainVersion: number; range: ChunkIdRange; maxChunks?: number } & Returns<LastChunk>)
  | ({ type: 'remove-chunks'; chainId: number; chainVersion: number; range: ChunkIdRange; maxChunks?: number; tag: MessageTag } & Returns<{ removed: number; more: boolean }>)
  | ({ type: 'sync-start'; chainId: number; chainVersion: number } & Returns<ChunkMeta[]>)
  | ({ type: 'sync-done'; chainId: number; chainVersion: number } & Returns<null>)
  | ({ type: 'query-chunk'; chainId: number; chunkId: ChunkId } & Returns<{ view: TargetView; meta: ChunkMeta | null }>)
  | ({ type: 'list-chunks' } & Returns<ChunkMeta[]>)
  | { type: 'target-view'; view: TargetView }
  // internal (the replica to itself)
  | { type: 'tick' }
  | { type: 'sync-retry' }
  | { type: 'op-done'; opId: number; outcome: unknown }

/** Messages of a node's storage service. */
export type StorageNodeMsg =
  | RoutingUpdate
  | ({ type: 'create-target'; targetId: number; chainId?: number } & Returns<TargetSummary>)
  | ({ type: 'remove-target'; targetId: number; force?: boolean } & Returns<TargetSummary>)
  | ({ type: 'offline-target'; targetId: number } & Returns<TargetSummary>)
  | ({ type: 'list-targets' } & Returns<TargetSummary[]>)
  | ({ type: 'space-info' } & Returns<SpaceInfo>)
  /**
   * Reads for several of this node's targets in one message (3FS batches reads per storage node):
   * each read names its target; the answers come back in the same order.
   */
  | ({
    /** The reads, packed by batch-request.ts: a record per read and their chunk ids in one string. */
    type: 'batch-read'; reads: Uint8Array; chunkIds: string
    /** Where reads larger than the client's inline bound are pushed (records point here). */
    regions: { region: RegionHandle; offset: number }[]
    /**
     * The reply's bytes may come in a pool slot up to this size (0 or absent: never). An asker on
     * another node without a free slot that large then has the reply refused (ERR_POOL_EXHAUSTED)
     * and asks again without.
     */
    slotReplyBytesMax?: number
  } & Returns<BatchReadReply>)
  // from the node's own replicas
  | { type: 'replica-started'; targetId: number; address: ActorAddress }
  | { type: 'target-report'; targetId: number; report: TargetReport }
  // timers
  | { type: 'tick-heartbeat' }

/** What a replica tells its node, for heartbeats and local state. */
export interface TargetReport {
  usedSizeBytes?: number
  chunkCount?: number
  /** The replica finished receiving a sync (syncDone): it is complete → UPTODATE. */
  synced?: { chainVersion: number }
  /** The disk failed under the target (EIO, ENOSPC on a commit): it must go OFFLINE. */
  failed?: string
  /** Progress of the sync this target runs to its SYNCING successor. */
  syncing?: { targetId: number; doneChunks: number; totalChunks: number; copiedChunks: number; copiedBytes: number } | null
}

/** Stable error codes of the storage service. */
export const StorageErrorCode = {
  /** The sender's chain version differs from the replica's (3FS kRoutingVersionMismatch): refresh routing and retry. */
  ROUTING_VERSION: 'ERR_STORAGE_ROUTING_VERSION',
  /** A client write reached a target that is not the chain's head (kRoutingError). */
  NOT_HEAD: 'ERR_STORAGE_NOT_HEAD',
  /** The target does not serve this request in its state (kTargetStateInvalid, OFFLINE, lease run out). */
  TARGET_STATE: 'ERR_STORAGE_TARGET_STATE',
  TARGET_NOT_FOUND: 'ERR_STORAGE_TARGET_NOT_FOUND',
  /** The same update channel has an update in flight (kChannelIsLocked): retry later. */
  CHANNEL_LOCKED: 'ERR_STORAGE_CHANNEL_LOCKED',
  /** An older seqnum on a channel that has moved on (kDuplicateUpdate). */
  DUPLICATE_UPDATE: 'ERR_STORAGE_DUPLICATE_UPDATE',
  CHECKSUM_MISMATCH: 'ERR_STORAGE_CHECKSUM_MISMATCH',
  /** An update older than the chunk's committed chain version (kChainVersionMismatch). */
  CHAIN_VERSION: 'ERR_STORAGE_CHAIN_VERSION',
  /** A version gap: the predecessor skipped one (kChunkMissingUpdate). */
  MISSING_UPDATE: 'ERR_STORAGE_MISSING_UPDATE',
  CHUNK_NOT_FOUND: 'ERR_STORAGE_CHUNK_NOT_FOUND',
  /** Too much work in flight on the target: retry later. */
  BUSY: 'ERR_STORAGE_BUSY',
  /** Forwarding to the successor kept failing past its time budget. */
  FORWARD_FAILED: 'ERR_STORAGE_FORWARD_FAILED',
  BAD_REQUEST: 'ERR_STORAGE_BAD_REQUEST',
  TARGET_EXISTS: 'ERR_STORAGE_TARGET_EXISTS',
} as const

/** Errors a client retries after refreshing routing (3FS "fast retry"), and ones it retries after backoff. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set([
  StorageErrorCode.ROUTING_VERSION,
  StorageErrorCode.NOT_HEAD,
  StorageErrorCode.TARGET_STATE,
  StorageErrorCode.CHANNEL_LOCKED,
  StorageErrorCode.BUSY,
  StorageErrorCode.FORWARD_FAILED,
  StorageErrorCode.CHAIN_VERSION,
  StorageErrorCode.MISSING_UPDATE,
  StorageErrorCode.CHECKSUM_MISMATCH,
  'ERR_ASK_TIMEOUT',
  'ERR_HOST_DIED',
  'ERR_PEER_DOWN',
  'ERR_UNKNOWN_ADDRESS',
  'ERR_STALE_INCARNATION',
  'ERR_ACTOR_STOPPED',
  'ERR_ACTOR_FAILED',
  'ERR_MAILBOX_FULL',
  'ERR_REMOTE_REGION',
  'ERR_POOL_EXHAUSTED',
  'EIO',
])
