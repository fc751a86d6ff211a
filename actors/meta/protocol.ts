/**
 * meta's messages and the data they carry (after 3FS's MetaSerde service, reference/3fs.md §1.3).
 * Clients, the FUSE actor and the admin CLI import only this file (and meta-client.ts).
 *
 * Every request carries who asks (uid, gid, groups, token), which client (its id, as mgmtd knows
 * it) and a request id: the idempotency key of mutating requests (create, mkdirs, symlink,
 * hardLink, remove, rename, move-to-trash), which a client keeps across its retries. Refusals are
 * POSIX errnos (errors.ts). Inode ids are safe integers (u64 on the wire and in keys).
 */
import type { Returns } from '../../runtime/actor.ts'
import type { Inode, InodeId, InodeType } from './inode.ts'
import type { Layout } from './layout.ts'

export type { Inode, InodeId, InodeType, Acl, FileInode, DirectoryInode, SymlinkInode } from './inode.ts'
export type { Layout, ChainSpec } from './layout.ts'
export type { DirEntry } from './dir-entry.ts'

export interface UserInfo {
  readonly uid: number
  readonly gid: number
  readonly groups?: readonly number[]
  /** Checked when the server authenticates users, and always for admin requests. */
  readonly token?: string
}

export interface ReqBase {
  readonly user: UserInfo
  /** The client's id (its mgmtd client session id); sessions and idempotency records are per client. */
  readonly clientId: string
  /** Unique per client and request; the same on every retry of one request. */
  readonly requestId: string
  /** Set by a meta server that forwarded the request to the inode's owner: the owner runs it. */
  readonly forwarded?: boolean
}

/** A path, relative to `at` (a directory inode) when not absolute; `at` defaults to the root. */
export interface PathAt {
  readonly path: string
  readonly at?: InodeId
}

export type AccessMode = 'read' | 'write' | 'readwrite'

export interface OpenFlags {
  readonly access: AccessMode
  /** O_EXCL (with create): fail with EEXIST when the entry exists. */
  readonly excl?: boolean
  /** O_TRUNC: the reply says needTruncate, or a large file is replaced by a new inode. */
  readonly trunc?: boolean
  /** O_DIRECTORY: ENOTDIR unless a directory. */
  readonly directory?: boolean
  /** O_NOFOLLOW: ELOOP when the last component is a symlink. */
  readonly nofollow?: boolean
}

export interface LengthHint {
  readonly length: number
  /** The truncateVer the client saw when it wrote: a hint of another truncate generation is ignored. */
  readonly truncateVer: number
}

export interface OpenResult {
  readonly inode: Inode
  readonly created: boolean
  /** O_TRUNC of a file that was not replaced: the client truncates through storage, then syncs. */
  readonly needTruncate: boolean
}

export interface ListEntry {
  readonly name: string
  readonly id: InodeId
  readonly type: InodeType
}

export interface ListResult {
  readonly entries: ListEntry[]
  /** With `status`: the entries' inodes, in the same order (null for one removed meanwhile). */
  readonly inodes: (Inode | null)[] | null
  /** More entries follow the last one. */
  readonly more: boolean
}

export interface StatFsResult {
  readonly capacityBytes: number
  readonly usedBytes: number
  readonly freeBytes: number
}

export interface SessionInfo {
  readonly inode: InodeId
  readonly sessionId: string
  readonly clientId: string
  readonly createdMs: number
}

export type DirLockAction = 'try-lock' | 'preempt-lock' | 'unlock' | 'clear'

export type TimeSpec = number | 'now'

export interface SetAttrFields {
  readonly uid?: number
  readonly gid?: number
  readonly perm?: number
  readonly atimeMs?: TimeSpec
  readonly mtimeMs?: TimeSpec
  /** Directories only: the layout new files inherit. */
  readonly layout?: Layout
  /** iflags to set (FS_IMMUTABLE_FL, FS_CHAIN_ALLOCATION_FL); root only. */
  readonly iflags?: number
  /** Files with a dynamic stripe: double the active stripe (before writing past it). */
  readonly extendStripe?: boolean
}

export type LockKind = 'posix' | 'flock'
export type LockType = 'read' | 'write' | 'unlock'

export interface LockRange {
  readonly type: 'read' | 'write'
  readonly start: number
  /** Exclusive; Number.MAX_SAFE_INTEGER for "to the end of the file". */
  readonly end: number
}

export interface HeldLock extends LockRange {
  readonly clientId: string
  readonly owner: string
  readonly kind: LockKind
}

export interface UserRecord {
  readonly uid: number
  readonly name: string
  readonly gid: number
  readonly groups: readonly number[]
  readonly token: string
  readonly admin: boolean
}

export interface TrashResult {
  /** Where the tree now is: /trash/<uid>/<expiresAtMs>-<name>. */
  readonly path: string
  readonly expiresAtMs: number
}

export type MetaRequest =
  | ({ type: 'stat-fs' } & ReqBase & Returns<StatFsResult>)
  | ({ type: 'stat'; path?: PathAt; inode?: InodeId; follow?: boolean } & ReqBase & Returns<Inode>)
  | ({ type: 'batch-stat'; inodes: InodeId[] } & ReqBase & Returns<(Inode | null)[]>)
  | ({ type: 'batch-stat-by-path'; paths: PathAt[]; follow?: boolean } & ReqBase & Returns<(Inode | { errno: string })[]>)
  | ({ type: 'create'; path: PathAt; flags: OpenFlags; perm: number; session?: string; layout?: Layout; /** Set when forwarded: the directory whose owner batches it. */ parentHint?: InodeId } & ReqBase & Returns<OpenResult>)
  | ({ type: 'open'; path?: PathAt; inode?: InodeId; flags: OpenFlags; session?: string } & ReqBase & Returns<OpenResult>)
  | ({ type: 'close'; inode: InodeId; session?: string; updateLength: boolean; lengthHint?: LengthHint; atimeMs?: number; mtimeMs?: number } & ReqBase & Returns<Inode>)
  | ({ type: 'sync'; inode: InodeId; updateLength: boolean; truncated?: boolean; lengthHint?: LengthHint; atimeMs?: number; mtimeMs?: number } & ReqBase & Returns<Inode>)
  | ({ type: 'truncate'; inode: InodeId; length: number } & ReqBase & Returns<Inode>)
  | ({ type: 'mkdirs'; path: PathAt; perm: number; recursive: boolean; layout?: Layout } & ReqBase & Returns<Inode>)
  | ({ type: 'symlink'; path: PathAt; target: string } & ReqBase & Returns<Inode>)
  | ({ type: 'hard-link'; oldPath: PathAt; newPath: PathAt; follow?: boolean } & ReqBase & Returns<Inode>)
  | ({ type: 'remove'; path: PathAt; recursive: boolean; checkType?: 'file' | 'directory' } & ReqBase & Returns<{ removed: InodeId }>)
  | ({ type: 'rename'; src: PathAt; dst: PathAt; noReplace?: boolean } & ReqBase & Returns<{ inode: InodeId; replaced: InodeId | null }>)
  | ({ type: 'move-to-trash'; path: PathAt; expireMs: number } & ReqBase & Returns<TrashResult>)
  | ({ type: 'list'; path: PathAt; prev?: string; limit?: number; status?: boolean } & ReqBase & Returns<ListResult>)
  | ({ type: 'get-real-path'; path?: PathAt; inode?: InodeId } & ReqBase & Returns<string>)
  | ({ type: 'set-attr'; path?: PathAt; inode?: InodeId; follow?: boolean; attrs: SetAttrFields } & ReqBase & Returns<Inode>)
  | ({ type: 'lock-directory'; inode: InodeId; action: DirLockAction } & ReqBase & Returns<Inode>)
  | ({ type: 'prune-session'; client: string; sessions?: string[] } & ReqBase & Returns<{ pruned: number }>)
  | ({ type: 'authenticate' } & ReqBase & Returns<UserInfo>)
  | ({ type: 'drop-user-cache' } & ReqBase & Returns<null>)
  | ({ type: 'set-user'; record: UserRecord } & ReqBase & Returns<UserRecord>)
  | ({ type: 'lock'; inode: InodeId; kind: LockKind; owner: string; lock: LockType; start: number; end: number } & ReqBase & Returns<null>)
  | ({ type: 'get-lock'; inode: InodeId; kind: LockKind; owner: string; lock: 'read' | 'write'; start: number; end: number } & ReqBase & Returns<HeldLock | null>)
  | ({ type: 'release-locks'; inode: InodeId; owner?: string } & ReqBase & Returns<{ released: number }>)
  | ({ type: 'list-sessions'; inode?: InodeId; client?: string; limit?: number } & ReqBase & Returns<SessionInfo[]>)

export type MetaRequestType = MetaRequest['type']

/** What a meta server reports about itself (admin, tests). */
export interface MetaStatus {
  readonly serverId: number
  readonly members: number[]
  readonly membershipVersion: string
  readonly inFlight: number
  readonly batches: number
  readonly batchedOps: number
  readonly forwarded: number
}

export type MetaMsg = MetaRequest | ({ type: 'status' } & Returns<MetaStatus>)

/**
 * Requests whose effects are recorded with their answer (idempotency.ts): a retry of one that was
 * applied gets the first answer and applies nothing again.
 */
export const IDEMPOTENT_TYPES: ReadonlySet<MetaRequestType> = new Set([
  'create', 'mkdirs', 'symlink', 'hard-link', 'remove', 'rename', 'move-to-trash', 'set-attr', 'close', 'sync', 'truncate', 'lock-directory', 'lock', 'release-locks',
])
/** Requests only an admin token may make. */
export const ADMIN_TYPES: ReadonlySet<MetaRequestType> = new Set(['list-sessions', 'prune-session', 'set-user', 'drop-user-cache'])

/**
 * Stable codes of meta's own errors that are not answers of the file system (a client retries
 * them). Everything the file system refuses is a POSIX errno (errors.ts).
 */
export const MetaErrorCode = {
  /** The server is shutting down, its queue is full or its inode ids ran out: retry (elsewhere). */
  BUSY: 'ERR_META_BUSY',
} as const

