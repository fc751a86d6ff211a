/**
 * Checks every message where it enters meta (the runtime refuses an invalid one with
 * ERR_INVALID_MESSAGE and this reason): the request base, then each type's fields. Deeper checks
 * that are answers of the file system (a bad name, a bad layout, a range) are errnos of the
 * operations themselves.
 */
import type { MetaMsg } from './protocol.ts'

const TYPES = new Set<MetaMsg['type']>([
  'stat-fs', 'stat', 'batch-stat', 'batch-stat-by-path', 'create', 'open', 'close', 'sync', 'truncate', 'mkdirs', 'symlink', 'hard-link', 'remove', 'rename',
  'move-to-trash', 'list', 'get-real-path', 'set-attr', 'lock-directory', 'prune-session', 'authenticate', 'drop-user-cache', 'set-user', 'lock', 'get-lock',
  'release-locks', 'list-sessions', 'status',
])
/** Inodes / paths one batch request may name. */
export const MAX_BATCH_ITEMS = 4096
const MAX_ID_CHARS = 256

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const u32 = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 0xffffffff
const inodeId = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const int = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v)
const str = (v: unknown, max = MAX_ID_CHARS) => typeof v === 'string' && v.length > 0 && v.length <= max
const opt = (v: unknown, check: (x: unknown) => boolean) => v === undefined || check(v)
const bool = (v: unknown) => typeof v === 'boolean'
const pathAt = (v: unknown) => isObj(v) && typeof v.path === 'string' && opt(v.at, inodeId)
const time = (v: unknown) => v === 'now' || int(v)

function checkUser(u: unknown): string | null {
  if (!isObj(u)) return 'user must be { uid, gid, groups?, token? }'
  if (!u32(u.uid) || !u32(u.gid)) return `user.uid and user.gid must be u32 integers (got ${String(u.uid)}, ${String(u.gid)})`
  if (u.groups !== undefined && (!Array.isArray(u.groups) || u.groups.length > 1024 || !u.groups.every(u32))) return 'user.groups must be a list of at most 1024 u32 gids'
  if (!opt(u.token, (t) => typeof t === 'string' && t.length <= 4096)) return 'user.token must be a string'
  return null
}

function fields(m: Obj): string | null {
  switch (m.type as MetaMsg['type']) {
    case 'stat':
    case 'get-real-path':
      return (m.path === undefined) === (m.inode === undefined) || !opt(m.path, pathAt) || !opt(m.inode, inodeId) ? 'give exactly one of path ({ path, at? }) or inode' : null
    case 'batch-stat':
      return Array.isArray(m.inodes) && m.inodes.length <= MAX_BATCH_ITEMS && m.inodes.every(inodeId) ? null : `inodes must be a list of at most ${MAX_BATCH_ITEMS} inode ids`
    case 'batch-stat-by-path':
      return Array.isArray(m.paths) && m.paths.length <= MAX_BATCH_ITEMS && m.paths.every(pathAt) ? null : `paths must be a list of at most ${MAX_BATCH_ITEMS} { path, at? }`
    case 'create':
      return pathAt(m.path) && flags(m.flags) && u32(m.perm) && opt(m.session, str) && opt(m.parentHint, inodeId) ? null : 'create needs path { path, at? }, flags { access, ... }, perm (mode bits), session? (string)'
    case 'open':
      return (m.path === undefined) !== (m.inode === undefined) && opt(m.path, pathAt) && opt(m.inode, inodeId) && flags(m.flags) && opt(m.session, str) ? null : 'open needs one of path or inode, flags { access, ... }, session?'
    case 'close':
    case 'sync':
      return inodeId(m.inode) && bool(m.updateLength) && opt(m.session, str) && opt(m.truncated, bool) && opt(m.lengthHint, hint) && opt(m.atimeMs, int) && opt(m.mtimeMs, int) ? null : `${String(m.type)} needs inode, updateLength (boolean), session?, lengthHint? { length, truncateVer }, atimeMs?, mtimeMs?`
    case 'truncate':
      return inodeId(m.inode) && int(m.length) && (m.length as number) >= 0 ? null : 'truncate needs inode and length (a non-negative integer)'
    case 'mkdirs':
      return pathAt(m.path) && u32(m.perm) && bool(m.recursive) ? null : 'mkdirs needs path, perm, recursive'
    case 'symlink':
      return pathAt(m.path) && typeof m.target === 'string' ? null : 'symlink needs path and target'
    case 'hard-link':
      return pathAt(m.oldPath) && pathAt(m.newPath) && opt(m.follow, bool) ? null : 'hard-link needs oldPath and newPath'
    case 'remove':
      return pathAt(m.path) && bool(m.recursive) && opt(m.checkType, (t) => t === 'file' || t === 'directory') ? null : 'remove needs path, recursive, checkType? ("file" | "directory")'
    case 'rename':
      return pathAt(m.src) && pathAt(m.dst) && opt(m.noReplace, bool) ? null : 'rename needs src and dst'
    case 'move-to-trash':
      return pathAt(m.path) && int(m.expireMs) ? null : 'move-to-trash needs path and expireMs'
    case 'list':
      return pathAt(m.path) && opt(m.prev, (p) => typeof p === 'string') && opt(m.limit, int) && opt(m.status, bool) ? null : 'list needs path, prev?, limit?, status?'
    case 'set-attr':
      return (m.path === undefined) !== (m.inode === undefined) && opt(m.path, pathAt) && opt(m.inode, inodeId) && attrs(m.attrs) ? null : 'set-attr needs one of path or inode, and attrs { uid?, gid?, perm?, atimeMs?, mtimeMs?, layout?, iflags?, extendStripe? }'
    case 'lock-directory':
      return inodeId(m.inode) && ['try-lock', 'preempt-lock', 'unlock', 'clear'].includes(m.action as string) ? null : 'lock-directory needs inode and action (try-lock | preempt-lock | unlock | clear)'
    case 'prune-session':
      return str(m.client) && opt(m.sessions, (s) => Array.isArray(s) && s.every((x) => str(x))) ? null : 'prune-session needs client and sessions?'
    case 'set-user':
      return isObj(m.record) ? null : 'set-user needs record { uid, name, gid, groups, token, admin }'
    case 'lock':
    case 'get-lock':
      return inodeId(m.inode) && (m.kind === 'posix' || m.kind === 'flock') && str(m.owner) && ['read', 'write', ...(m.type === 'lock' ? ['unlock'] : [])].includes(m.lock as string) && int(m.start) && int(m.end)
        ? null
        : `${String(m.type)} needs inode, kind (posix | flock), owner, lock (read | write${m.type === 'lock' ? ' | unlock' : ''}), start, end`
    case 'release-locks':
      return inodeId(m.inode) && opt(m.owner, str) ? null : 'release-locks needs inode and owner?'
    case 'list-sessions':
      return opt(m.inode, inodeId) && opt(m.client, str) && opt(m.limit, int) ? null : 'list-sessions takes inode?, client?, limit?'
    default:
      return null
  }
}

function flags(v: unknown): boolean {
  return isObj(v) && ['read', 'write', 'readwrite'].includes(v.access as string) && ['excl', 'trunc', 'directory', 'nofollow'].every((k) => opt(v[k], bool))
}

function hint(v: unknown): boolean {
  return isObj(v) && int(v.length) && (v.length as number) >= 0 && int(v.truncateVer)
}

function attrs(v: unknown): boolean {
  return isObj(v) && opt(v.uid, u32) && opt(v.gid, u32) && opt(v.perm, u32) && opt(v.atimeMs, time) && opt(v.mtimeMs, time) && opt(v.iflags, u32) && opt(v.extendStripe, bool) && opt(v.layout, isObj)
}

/** Background tasks a timer may wake (timer messages pass through validation too). */
const TICKS = new Set(['membership', 'gc', 'sessions', 'idem', 'trash', 'routing', 'heartbeat'])

export function validateMetaMsg(message: unknown): string | null {
  if (isObj(message) && message.type === 'tick') return TICKS.has(message.task as string) ? null : `tick of unknown task ${JSON.stringify(message.task)}`
  if (!isObj(message) || !TYPES.has(message.type as MetaMsg['type'])) return `unknown meta message type ${isObj(message) ? JSON.stringify(message.type) : typeof message}; accepted: ${[...TYPES].join(', ')}`
  if (message.type === 'status') return null
  const user = checkUser(message.user)
  if (user !== null) return user
  if (!str(message.clientId)) return `clientId must be a non-empty string of at most ${MAX_ID_CHARS} characters`
  if (!str(message.requestId)) return `requestId must be a non-empty string of at most ${MAX_ID_CHARS} characters`
  if (!opt(message.forwarded, bool)) return 'forwarded must be a boolean'
  return fields(message)
}
