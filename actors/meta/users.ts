/**
 * Users and tokens (reference/3fs.md §1.3 authenticate, USER store): a user record (uid, name,
 * gid, groups, token, admin) under USER/uid and its token under USER/token. When the server
 * authenticates (`authenticate = true`), every request's token must be the token of the uid it
 * claims, and the stored gid and groups replace the request's; admin requests (protocol.ts
 * ADMIN_TYPES) always need an admin token: a user record marked admin, or the server's bootstrap
 * `admin_token`. Lookups are cached for `userCacheTtlMs` (drop-user-cache clears it).
 */
import type { Kv } from '../kv/index.ts'
import { metaError } from './errors.ts'
import { tokenKey, userKey } from './keys.ts'
import type { UserInfo, UserRecord } from './protocol.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

/** Tokens remembered per server (a bound, not a tuning knob). */
export const USER_CACHE_MAX = 4096

export interface Identity {
  readonly user: UserInfo
  readonly admin: boolean
}

export class UserStore {
  private readonly cache = new Map<string, { record: UserRecord | null; atMs: number }>()

  constructor(
    private readonly kv: Kv,
    private readonly adminToken: string | null,
    private readonly ttlMs: number,
    private readonly timeoutMs: number,
  ) {}

  drop(): void {
    this.cache.clear()
  }

  private async byToken(token: string, nowMs: number): Promise<UserRecord | null> {
    const hit = this.cache.get(token)
    if (hit !== undefined && nowMs - hit.atMs < this.ttlMs) return hit.record
    const record = await this.kv.transact(async (tx) => {
      const uid = await tx.snapshot.get(tokenKey(token))
      if (uid === undefined) return null
      const bytes = await tx.snapshot.get(userKey(decodeValue<number>(uid, 'token')))
      return bytes === undefined ? null : decodeValue<UserRecord>(bytes, 'user')
    }, { timeoutMs: this.timeoutMs })
    if (this.cache.size >= USER_CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string)
    this.cache.set(token, { record: record !== null && record.token === token ? record : null, atMs: nowMs })
    return record !== null && record.token === token ? record : null
  }

  /** The identity a request acts as; EPERM when its token does not prove it. */
  async identify(user: UserInfo, needAdmin: boolean, authenticate: boolean, nowMs: number): Promise<Identity> {
    if (!needAdmin && !authenticate) return { user, admin: false }
    const token = user.token
    if (token === undefined || token.length === 0) throw metaError('EPERM', needAdmin ? 'this request needs an admin token (--token or $T3FS_TOKEN)' : `uid ${user.uid} gave no token and the server authenticates users`, { uid: user.uid })
    if (this.adminToken !== null && token === this.adminToken) return { user: { ...user, uid: 0, gid: 0, groups: [] }, admin: true }
    const record = await this.byToken(token, nowMs)
    if (record === null || record.uid !== user.uid) throw metaError('EPERM', `the token given is not the token of uid ${user.uid}`, { uid: user.uid })
    if (needAdmin && !record.admin) throw metaError('EPERM', `uid ${user.uid} is not an admin`, { uid: user.uid })
    return { user: { uid: record.uid, gid: record.gid, groups: [...record.groups], token }, admin: record.admin }
  }

  async set(record: UserRecord): Promise<UserRecord> {
    checkRecord(record)
    await this.kv.transact(async (tx) => {
      const old = await tx.get(userKey(record.uid))
      if (old !== undefined) tx.clear(tokenKey(decodeValue<UserRecord>(old, 'user').token))
      const owner = await tx.get(tokenKey(record.token))
      if (owner !== undefined && decodeValue<number>(owner, 'token') !== record.uid) throw metaError('EEXIST', 'that token belongs to another user')
      tx.set(userKey(record.uid), encodeValue(record))
      tx.set(tokenKey(record.token), encodeValue(record.uid))
    }, { timeoutMs: this.timeoutMs })
    this.drop()
    return record
  }
}

function checkRecord(r: UserRecord): void {
  const id = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= 0xffffffff
  if (!id(r.uid) || !id(r.gid)) throw metaError('EINVAL', `user uid ${r.uid} / gid ${r.gid} must be u32 integers`)
  if (!Array.isArray(r.groups) || !r.groups.every(id)) throw metaError('EINVAL', 'user groups must be a list of u32 gids')
  if (typeof r.token !== 'string' || r.token.length < 16) throw metaError('EINVAL', 'a user token must be a string of at least 16 characters')
  if (typeof r.name !== 'string' || r.name.length === 0 || r.name.length > 64) throw metaError('EINVAL', 'a user name must be 1 to 64 characters')
}
