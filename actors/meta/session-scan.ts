/**
 * Pruning the sessions of dead clients (reference/3fs.md §2.6, SessionManager): list every write
 * session, ask mgmtd which clients are alive, and clear the sessions (and POSIX locks) of clients
 * it no longer lists — unblocking GC of files they had open. A session younger than the grace
 * period is kept (its client may not have reached mgmtd yet). Without an answer from mgmtd nothing
 * is pruned. Also the explicit pruneSession request of one client.
 */
import type { Kv } from '../kv/index.ts'
import { allLocks, lockKey, parseLockKey, sessionKey } from './keys.ts'
import type { SessionInfo } from './protocol.ts'
import { scanSessions } from './sessions.ts'

/** Sessions read per transaction of a scan. */
export const SESSION_PAGE = 1024
/** Sessions pruned at most per scan (the next scan goes on). */
export const MAX_PRUNED_PER_SCAN = 100_000

export async function clearSessions(kv: Kv, sessions: readonly SessionInfo[], timeoutMs: number): Promise<void> {
  for (let i = 0; i < sessions.length; i += SESSION_PAGE) {
    const page = sessions.slice(i, i + SESSION_PAGE)
    await kv.transact((tx) => {
      for (const s of page) tx.clear(sessionKey(s.inode, s.sessionId))
    }, { timeoutMs })
  }
}

/** Clears every POSIX lock the given clients hold. */
export async function clearLocksOf(kv: Kv, clients: ReadonlySet<string>, timeoutMs: number): Promise<number> {
  if (clients.size === 0) return 0
  let cleared = 0
  let after: Buffer | null = null
  for (;;) {
    const page: { key: Buffer }[] = await kv.transact((tx) => tx.snapshot.getRange(after === null ? allLocks.begin : Buffer.concat([after, Buffer.from([0])]), allLocks.end, { limit: SESSION_PAGE }), { timeoutMs })
    const dead = page.filter((row) => clients.has(parseLockKey(row.key).clientId))
    if (dead.length > 0) {
      await kv.transact((tx) => {
        for (const row of dead) {
          const { inode, clientId, owner } = parseLockKey(row.key)
          tx.clear(lockKey(inode, clientId, owner))
        }
      }, { timeoutMs })
      cleared += dead.length
    }
    if (page.length < SESSION_PAGE) return cleared
    after = page[page.length - 1].key
  }
}

/** Every session whose client is not live (older than the grace period). */
export async function deadSessions(kv: Kv, live: ReadonlySet<string>, nowMs: number, graceMs: number, timeoutMs: number): Promise<SessionInfo[]> {
  const dead: SessionInfo[] = []
  let after: Buffer | null = null
  do {
    const page = await scanSessions(kv, after, SESSION_PAGE, timeoutMs)
    for (const s of page.sessions) if (!live.has(s.clientId) && nowMs - s.createdMs >= graceMs) dead.push(s)
    after = page.lastKey
  } while (after !== null && dead.length < MAX_PRUNED_PER_SCAN)
  return dead
}

export async function pruneDeadClients(kv: Kv, live: ReadonlySet<string>, nowMs: number, graceMs: number, timeoutMs: number): Promise<{ sessions: number; locks: number }> {
  const dead = await deadSessions(kv, live, nowMs, graceMs, timeoutMs)
  await clearSessions(kv, dead, timeoutMs)
  const clients = new Set(dead.map((s) => s.clientId))
  return { sessions: dead.length, locks: await clearLocksOf(kv, clients, timeoutMs) }
}

/** The sessions of one client (all, or those named), for pruneSession. */
export async function sessionsOfClient(kv: Kv, client: string, only: ReadonlySet<string> | null, timeoutMs: number): Promise<SessionInfo[]> {
  const found: SessionInfo[] = []
  let after: Buffer | null = null
  do {
    const page = await scanSessions(kv, after, SESSION_PAGE, timeoutMs)
    for (const s of page.sessions) if (s.clientId === client && (only === null || only.has(s.sessionId))) found.push(s)
    after = page.lastKey
  } while (after !== null && found.length < MAX_PRUNED_PER_SCAN)
  return found
}
