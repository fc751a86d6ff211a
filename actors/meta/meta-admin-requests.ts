/**
 * The requests that are not one transaction of the file system: statFs (storage's space, cached
 * `statFsCacheMs`), authenticate, the user store, and the session tools (list-sessions,
 * prune-session) that page through every session.
 */
import type { ActorContext } from '../../runtime/actor.ts'
import { T3fsError } from '../../runtime/errors.ts'
import { metaError } from './errors.ts'
import type { MetaSelfMsg, MetaState } from './meta-state.ts'
import type { MetaRequest, SessionInfo, StatFsResult } from './protocol.ts'
import { clearLocksOf, clearSessions, sessionsOfClient } from './session-scan.ts'
import { scanSessions, sessionsOf } from './sessions.ts'

export type AdminRequest = Extract<MetaRequest, { type: 'stat-fs' | 'authenticate' | 'drop-user-cache' | 'set-user' | 'prune-session' | 'list-sessions' }>

export const ADMIN_REQUEST_TYPES: ReadonlySet<string> = new Set(['stat-fs', 'authenticate', 'drop-user-cache', 'set-user', 'prune-session', 'list-sessions'])

/** Sessions listed at most per request. */
export const MAX_LISTED_SESSIONS = 100_000

export function adminWork(state: MetaState, ctx: ActorContext<MetaSelfMsg>, msg: AdminRequest): Promise<unknown> {
  const timeoutMs = state.config.operationTimeoutMs
  switch (msg.type) {
    case 'stat-fs':
      return statFs(state, ctx.clock.now())
    case 'authenticate':
      return Promise.resolve(msg.user)
    case 'drop-user-cache':
      state.users.drop()
      return Promise.resolve(null)
    case 'set-user':
      return state.users.set(msg.record)
    case 'prune-session':
      return (async () => {
        const sessions = await sessionsOfClient(state.kv, msg.client, msg.sessions === undefined ? null : new Set(msg.sessions), timeoutMs)
        await clearSessions(state.kv, sessions, timeoutMs)
        if (msg.sessions === undefined) await clearLocksOf(state.kv, new Set([msg.client]), timeoutMs)
        return { pruned: sessions.length }
      })()
    case 'list-sessions':
      return listSessions(state, msg.inode, msg.client, Math.min(msg.limit ?? 1000, MAX_LISTED_SESSIONS))
  }
}

async function listSessions(state: MetaState, inode: number | undefined, client: string | undefined, limit: number): Promise<SessionInfo[]> {
  const timeoutMs = state.config.operationTimeoutMs
  if (inode !== undefined) {
    const all = await state.kv.transact((tx) => sessionsOf(tx.snapshot, inode, limit), { timeoutMs })
    return all.filter((s) => client === undefined || s.clientId === client)
  }
  const out: SessionInfo[] = []
  let after: Buffer | null = null
  do {
    const page = await scanSessions(state.kv, after, 1024, timeoutMs)
    for (const s of page.sessions) if (client === undefined || s.clientId === client) out.push(s)
    after = page.lastKey
  } while (after !== null && out.length < limit)
  return out.slice(0, limit)
}

async function statFs(state: MetaState, nowMs: number): Promise<StatFsResult> {
  const cached = state.statFs
  if (cached !== null && nowMs - cached.atMs < state.config.statFsCacheMs) return cached.value
  let space
  try {
    space = await state.storage.spaceInfo()
  } catch (error) {
    throw metaError('EIO', `statfs needs the storage service's space: ${(error as Error).message}`, { cause: error instanceof T3fsError ? error.code : 'unknown' })
  }
  const value = { capacityBytes: space.capacityBytes, usedBytes: Math.max(0, space.capacityBytes - space.freeBytes), freeBytes: space.freeBytes }
  state.statFs = { value, atMs: nowMs }
  return value
}
