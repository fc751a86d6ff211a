/**
 * Background GC (reference/3fs.md §2.6, GcManager): each server scans the GC directories it owns
 * (rendezvous over the live servers, so a dead server's directory is taken over) and handles the
 * entries older than their delay (files `gcFileDelayMs`, directories `gcDirectoryDelayMs`):
 * - a file with a write session open is postponed (`gcRetryDelayMs`): deleted-but-open files stay;
 * - otherwise its chunks are removed through storage (every active chain, batches of 32, until
 *   none remain), then one transaction re-checks that no session appeared and clears the GC entry,
 *   the inode and any locks on it. A storage failure leaves the entry for a later scan;
 * - a directory is emptied 32 children per transaction, each child removed as by unlink as the
 *   user the entry records (a child directory becomes a GC entry of its own), or moved to the
 *   orphans directory when that user may not remove it; the empty directory then goes.
 */
import type { Kv } from '../kv/index.ts'
import type { DirEntry } from './dir-entry.ts'
import { isErrno } from './errors.ts'
import { GC_ROOT_INODE, type FileInode, type Inode, type InodeId } from './inode.ts'
import { lockRange } from './keys.ts'
import type { OpContext, ServerServices } from './op-context.ts'
import { opContext } from './op-context.ts'
import { parseGcEntryName, removeEntry } from './gc-entry.ts'
import { checkAccess, checkSticky, W_OK, X_OK } from './permissions.ts'
import { ownerOf } from './rendezvous.ts'
import type { RoutingView } from './routing-view.ts'
import { hasSessions } from './sessions.ts'
import { removeFileChunks } from './storage-calls.ts'
import type { StorageService } from './storage-protocol.ts'
import { clearEntry, clearInode, getEntry, getInode, listEntries, mustGetDirectory, putEntry, putInode } from './store.ts'

/** Children of a removed directory handled per transaction (3FS: 32). */
export const GC_DIR_BATCH = 32
export const ORPHANS_NAME = 'orphans'

export interface GcEnv {
  readonly kv: Kv
  readonly storage: StorageService
  readonly routing: RoutingView
  readonly services: ServerServices
  readonly nowMs: number
  readonly live: readonly number[]
  /** Inodes whose GC waits until the given time (sessions open, storage failed). */
  readonly postponed: Map<InodeId, number>
  readonly timeoutMs: number
}

export interface GcReport {
  files: number
  directories: number
  postponed: number
  failed: number
  /** Removed inodes whose chunks were removed first (tests check the order). */
  readonly removed: InodeId[]
}

/** Entries of `postponed` kept at most (older ones are forgotten, which only means an early retry). */
export const MAX_POSTPONED = 100_000

export async function gcScan(env: GcEnv): Promise<GcReport> {
  const report: GcReport = { files: 0, directories: 0, postponed: 0, failed: 0, removed: [] }
  const dirs = await env.kv.transact((tx) => listEntries(tx.snapshot, GC_ROOT_INODE, undefined, 1024), { timeoutMs: env.timeoutMs })
  const mine = dirs.filter((d) => d.type === 'directory' && d.name !== ORPHANS_NAME && ownerOf(env.live, d.id) === env.services.serverId)
  for (const dir of mine) {
    const entries = await env.kv.transact((tx) => listEntries(tx.snapshot, dir.id, undefined, env.services.config.gcScanBatch), { timeoutMs: env.timeoutMs })
    const due = entries.filter((e) => isDue(env, e))
    const files = due.filter((e) => e.type !== 'directory')
    for (let i = 0; i < files.length; i += env.services.config.gcConcurrency) {
      await Promise.all(files.slice(i, i + env.services.config.gcConcurrency).map((e) => collectFile(env, e, report)))
    }
    for (const e of due.filter((x) => x.type === 'directory')) await collectDirectory(env, e, report)
  }
  return report
}

function isDue(env: GcEnv, e: DirEntry): boolean {
  const parsed = parseGcEntryName(e.name)
  if (parsed === null) return false
  const delay = parsed.kind === 'd' ? env.services.config.gcDirectoryDelayMs : env.services.config.gcFileDelayMs
  if (env.nowMs - parsed.atMs < delay) return false
  return (env.postponed.get(e.id) ?? 0) <= env.nowMs
}

function postpone(env: GcEnv, id: InodeId): void {
  if (env.postponed.size >= MAX_POSTPONED) env.postponed.delete(env.postponed.keys().next().value as InodeId)
  env.postponed.set(id, env.nowMs + env.services.config.gcRetryDelayMs)
}

async function collectFile(env: GcEnv, entry: DirEntry, report: GcReport): Promise<void> {
  const state = await env.kv.transact(async (tx) => ({ inode: await getInode(tx.snapshot, entry.id), open: await hasSessions(tx.snapshot, entry.id) }), { timeoutMs: env.timeoutMs })
  if (state.open) {
    postpone(env, entry.id)
    report.postponed++
    return
  }
  if (state.inode !== null && state.inode.type === 'file') {
    try {
      await removeFileChunks(env.storage, env.routing, state.inode as FileInode, 0, env.services.mutants.has('gc-first-chain-only'))
    } catch {
      postpone(env, entry.id)
      report.failed++
      return
    }
  }
  const done = await env.kv.transact(
    async (tx) => {
      if ((await getEntry(tx, entry.parent, entry.name)) === null) return false
      if (await hasSessions(tx, entry.id)) return false
      clearEntry(tx, entry.parent, entry.name)
      clearInode(tx, entry.id)
      const locks = lockRange(entry.id)
      tx.clearRange(locks.begin, locks.end)
      return true
    },
    { timeoutMs: env.timeoutMs },
  )
  if (done) {
    report.files++
    report.removed.push(entry.id)
  }
}

async function collectDirectory(env: GcEnv, entry: DirEntry, report: GcReport): Promise<void> {
  const gcUser = { uid: entry.gcInfo?.uid ?? 0, gid: entry.gcInfo?.uid ?? 0 }
  const finished = await env.kv.transact(
    async (tx) => {
      const ctx: OpContext = opContext(tx, true, { user: gcUser, clientId: `meta-gc-${env.services.serverId}`, requestId: `gc-${entry.id}`, nowMs: env.nowMs, server: env.services })
      const dir = await getInode(tx, entry.id)
      const children = dir === null ? [] : await listEntries(tx, entry.id, undefined, GC_DIR_BATCH)
      if (children.length === 0) {
        clearEntry(tx, entry.parent, entry.name)
        if (dir !== null) clearInode(tx, entry.id)
        return true
      }
      for (const child of children) await removeChild(ctx, dir as Inode, child)
      return false
    },
    { timeoutMs: env.timeoutMs },
  )
  if (finished) report.directories++
}

async function removeChild(ctx: OpContext, dir: Inode, child: DirEntry): Promise<void> {
  const inode = await getInode(ctx.tx, child.id)
  if (inode === null) {
    clearEntry(ctx.tx, child.parent, child.name)
    return
  }
  try {
    checkAccess(dir.acl, ctx.user, W_OK | X_OK, `GC directory ${dir.id}`)
    checkSticky(dir.acl, inode.acl.uid, ctx.user, child.name)
  } catch (error) {
    if (!isErrno(error)) throw error
    await moveToOrphans(ctx, child)
    return
  }
  await removeEntry(ctx, child, inode, { uid: ctx.user.uid, origPath: `<gc>/${child.name}` })
}

/** What the recorded user may not remove is kept aside under GC-root/orphans for an admin. */
async function moveToOrphans(ctx: OpContext, child: DirEntry): Promise<void> {
  let orphans = await getEntry(ctx.tx, GC_ROOT_INODE, ORPHANS_NAME)
  if (orphans === null) {
    const root = await mustGetDirectory(ctx.tx, GC_ROOT_INODE)
    const id = ctx.server.allocateInodeId()
    putInode(ctx.tx, { ...root, id, nlink: 1, dir: { ...root.dir, parent: GC_ROOT_INODE, name: ORPHANS_NAME } })
    orphans = { parent: GC_ROOT_INODE, name: ORPHANS_NAME, id, type: 'directory', dirAcl: root.acl, uuid: ctx.requestId, gcInfo: null }
    putEntry(ctx.tx, orphans)
  }
  const name = `${child.parent}-${child.name}`.slice(0, 255)
  clearEntry(ctx.tx, child.parent, child.name)
  putEntry(ctx.tx, { ...child, parent: orphans.id, name })
  if (child.type === 'directory') {
    const inode = await getInode(ctx.tx, child.id)
    if (inode !== null && inode.type === 'directory') putInode(ctx.tx, { ...inode, dir: { ...inode.dir, parent: orphans.id, name } })
  }
}
