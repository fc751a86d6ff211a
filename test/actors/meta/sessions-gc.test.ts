/**
 * Write sessions, deleted-but-open files, GC (chunks removed through storage before the inode
 * goes), directory GC, sessions of dead clients pruned, trash with expiry, and what meta sends
 * storage for exact lengths and truncates — here up to the call, with a scripted storage double
 * (meta-storage.test.ts runs the same paths against real storage).
 */
import t from 'tap'
import { allInodes } from '../../../actors/meta/keys.ts'
import type { QueryLastChunkOp, RemoveChunksOp, StorageService, TruncateChunkOp } from '../../../actors/meta/storage-protocol.ts'
import { chunkId } from '../../../actors/meta/layout.ts'
import { harness, ROOT, ALICE } from './harness.ts'

/** A storage double that records each call and answers from a table of last chunks per chain. */
class ScriptedStorage implements StorageService {
  readonly calls: { call: string; ops: unknown[] }[] = []
  lastChunks = new Map<number, { index: number; len: number }>()
  pendingRemovals = 2
  async queryLastChunk(ops: readonly QueryLastChunkOp[]) {
    this.calls.push({ call: 'queryLastChunk', ops: [...ops] })
    return ops.map((op) => {
      const inode = Number(Buffer.from(op.range.begin).readBigUInt64BE(2))
      const last = this.lastChunks.get(op.chain.chainId)
      return last === undefined ? { lastChunkId: null, lastChunkLenBytes: 0, totalChunkLenBytes: 0, totalNumChunks: 0, moreChunksInRange: false } : { lastChunkId: chunkId(inode, last.index), lastChunkLenBytes: last.len, totalChunkLenBytes: 0, totalNumChunks: 1, moreChunksInRange: false }
    })
  }
  async removeChunks(ops: readonly RemoveChunksOp[]) {
    this.calls.push({ call: 'removeChunks', ops: [...ops] })
    this.pendingRemovals--
    return ops.map(() => ({ numChunksRemoved: 32, moreChunksInRange: this.pendingRemovals > 0 }))
  }
  async truncateChunks(ops: readonly TruncateChunkOp[]) {
    this.calls.push({ call: 'truncateChunks', ops: [...ops] })
    return ops.map((op) => ({ lengthBytes: op.chunkLenBytes }))
  }
  async spaceInfo() {
    return { capacityBytes: 1000, freeBytes: 250 }
  }
}

const layout = { tableId: 1, tableVersion: 0, chunkSizeBytes: 1 << 20, stripeSize: 4, chains: { kind: 'empty' as const } }

t.test('exact length on close and fsync: queryLastChunk on the file\'s stripe chains, the longest wins; truncate removes then cuts', async (t) => {
  const storage = new ScriptedStorage()
  const h = await harness({ args: { storage } })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(c.request({ type: 'mkdirs', path: { path: '/d' }, perm: 0o755, recursive: false, layout }))
  const f = await run(c.request({ type: 'create', path: { path: '/d/f' }, flags: { access: 'write' }, perm: 0o644, session: 's' }))
  t.equal(f.inode.type === 'file' && f.inode.file.layout.stripeSize, 4)
  const chains = (storage: ScriptedStorage) => (storage.calls.at(-1)?.ops as QueryLastChunkOp[]).map((op) => op.chain.chainId)
  storage.lastChunks.set(101, { index: 0, len: 100 }).set(102, { index: 5, len: 7 }).set(103, { index: 2, len: 1 << 20 })
  const closed = await run(c.request({ type: 'close', inode: f.inode.id, session: 's', updateLength: true }))
  t.equal(storage.calls.at(-1)?.call, 'queryLastChunk')
  const asked = chains(storage)
  t.equal(asked.length, 4, 'one query per chain of the stripe')
  t.ok(asked.every((id) => id >= 101 && id <= 108))
  const expected = Math.max(...asked.map((id) => { const l = storage.lastChunks.get(id); return l === undefined ? 0 : l.index * (1 << 20) + l.len }))
  t.equal(closed.type === 'file' && closed.file.length, expected, 'length = max over chains of lastIndex·chunkSize + lastLen')
  const synced = await run(c.request({ type: 'sync', inode: f.inode.id, updateLength: true, truncated: true }))
  t.equal(synced.type === 'file' && synced.file.truncateVer, 1, 'a truncated sync bumps truncateVer')
  const hinted = await run(c.request({ type: 'sync', inode: f.inode.id, updateLength: true, lengthHint: { length: 1, truncateVer: 0 } }))
  t.equal(storage.calls.at(-1)?.call, 'queryLastChunk', 'a hint of an older truncateVer is not trusted: storage is asked')
  t.equal(hinted.type === 'file' && hinted.file.length, expected)
  storage.calls.length = 0
  storage.pendingRemovals = 2
  const cut = await run(c.request({ type: 'truncate', inode: f.inode.id, length: (1 << 20) + 10 }))
  t.same(storage.calls.map((x) => x.call), ['removeChunks', 'removeChunks', 'truncateChunks'], 'chunks past the end removed until none remain, then the last chunk cut')
  const removal = storage.calls[0].ops as RemoveChunksOp[]
  t.equal(Buffer.from(removal[0].range.begin).readUInt32BE(12), 2, 'from chunk ceil(len / chunkSize) = 2')
  t.equal(removal[0].range.maxNumChunkIdsToProcess, 32)
  const trunc = (storage.calls[2].ops as TruncateChunkOp[])[0]
  t.same({ chunk: Buffer.from(trunc.chunkId).readUInt32BE(12), len: trunc.chunkLenBytes, extend: trunc.onlyExtendChunk }, { chunk: 1, len: 10, extend: false }, 'the new last chunk is set to its new length (a TRUNCATE, zero-filling when it grows: storage-calls.ts says why not EXTEND)')
  t.same(cut.type === 'file' && [cut.file.length, cut.file.truncateVer], [(1 << 20) + 10, 2])
  t.same(await run(c.request({ type: 'stat-fs' })), { capacityBytes: 1000, usedBytes: 750, freeBytes: 250 })
})

t.test('a removed file stays while a session is open; GC then removes its chunks through storage, then its inode', async (t) => {
  const storage = new ScriptedStorage()
  const h = await harness({ args: { storage }, config: { gc_scan_interval: '10ms', gc_file_delay: '50ms', gc_retry_delay: '20ms' } })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  const f = await run(c.request({ type: 'create', path: { path: '/open' }, flags: { access: 'write' }, perm: 0o644, session: 's1' }))
  await run(c.request({ type: 'remove', path: { path: '/open' }, recursive: false }))
  await h.ts.advance(500)
  const still = await run(c.request({ type: 'stat', inode: f.inode.id }))
  t.equal(still.nlink, 0, 'deleted, but stat by id still answers while it is open')
  t.notOk(storage.calls.some((x) => x.call === 'removeChunks'), 'no chunk was removed while the session is open')
  await run(c.request({ type: 'close', inode: f.inode.id, session: 's1', updateLength: false }))
  storage.pendingRemovals = 1
  await h.ts.advance(500)
  const removals = storage.calls.filter((x) => x.call === 'removeChunks')
  t.equal(removals.length, 1, 'its chunks were removed through storage')
  t.equal(Number(Buffer.from((removals[0].ops as RemoveChunksOp[])[0].range.begin).readBigUInt64BE(2)), f.inode.id)
  await t.rejects(run(c.request({ type: 'stat', inode: f.inode.id })), { code: 'ENOENT' }, 'then the inode went')
})

t.test('GC waits for a storage that cannot be reached: the file stays in GC until it can', async (t) => {
  const h = await harness({ config: { gc_scan_interval: '10ms', gc_file_delay: '0ms', gc_retry_delay: '20ms' } })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const f = await h.settle(c.request({ type: 'create', path: { path: '/x' }, flags: { access: 'write' }, perm: 0o644 }))
  await h.settle(c.request({ type: 'remove', path: { path: '/x' }, recursive: false }))
  await h.ts.advance(300)
  t.equal((await h.settle(c.request({ type: 'stat', inode: f.inode.id }))).nlink, 0, 'kept: its chunks could not be removed (unavailable storage)')
})

t.test('rm -r hands the tree to GC at once; GC empties it 32 entries at a time; hard links outside survive', async (t) => {
  const storage = new ScriptedStorage()
  storage.pendingRemovals = 0
  const h = await harness({ args: { storage }, config: { gc_scan_interval: '10ms', gc_file_delay: '0ms' } })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(c.request({ type: 'mkdirs', path: { path: '/t/a/b' }, perm: 0o755, recursive: true }))
  for (let i = 0; i < 70; i++) await run(c.request({ type: 'create', path: { path: `/t/a/b/f${i}` }, flags: { access: 'write' }, perm: 0o644 }))
  await run(c.request({ type: 'hard-link', oldPath: { path: '/t/a/b/f0' }, newPath: { path: '/keep' } }))
  const before = await h.kv.transact(async (tx) => (await tx.getRange(allInodes.begin, allInodes.end)).length)
  await run(c.request({ type: 'remove', path: { path: '/t' }, recursive: true }))
  await t.rejects(run(c.request({ type: 'stat', path: { path: '/t' } })), { code: 'ENOENT' }, 'gone from the namespace in one operation')
  await h.ts.advance(2_000)
  const after = await h.kv.transact(async (tx) => (await tx.getRange(allInodes.begin, allInodes.end)).length)
  t.equal(before - after, 72, 'the three directories and 69 files are gone')
  const kept = await run(c.request({ type: 'stat', path: { path: '/keep' } }))
  t.equal(kept.nlink, 1, 'the file linked outside lost only its link inside')
})

t.test('sessions of clients mgmtd no longer lists are pruned (and their locks released), which lets GC go on', async (t) => {
  let live = new Set(['alive', 'doomed'])
  const h = await harness({ args: { liveClients: async () => live }, config: { session_scan_interval: '50ms', session_prune_grace: '10ms' } })
  t.teardown(() => h.close())
  const a = h.client(ROOT, 'alive')
  const d = h.client(ROOT, 'doomed')
  const run = <T>(p: Promise<T>) => h.settle(p)
  const f = await run(a.request({ type: 'create', path: { path: '/f' }, flags: { access: 'write' }, perm: 0o644, session: 'a1' }))
  await run(d.request({ type: 'open', path: { path: '/f' }, flags: { access: 'write' }, session: 'd1' }))
  await run(d.request({ type: 'lock', inode: f.inode.id, kind: 'flock', owner: 'fh1', lock: 'write', start: 0, end: 1 }))
  await t.rejects(run(a.request({ type: 'lock', inode: f.inode.id, kind: 'flock', owner: 'fh2', lock: 'read', start: 0, end: 1 })), { code: 'EAGAIN' })
  await h.ts.advance(200)
  const admin = { ...ROOT, token: 'admin-token-for-tests' }
  t.equal((await run(a.request({ type: 'list-sessions', inode: f.inode.id, user: admin }).catch((e: { code: string }) => e.code))), 'EPERM', 'without a configured admin token nobody is admin')
  live = new Set(['alive'])
  await h.ts.advance(200)
  t.equal((await run(a.request({ type: 'lock', inode: f.inode.id, kind: 'flock', owner: 'fh2', lock: 'read', start: 0, end: 1 }))), null, 'the dead client\'s lock was released')
})

t.test('admin requests need an admin token; list-sessions and prune-session; trash moves a tree aside and the cleaner empties it after expiry', async (t) => {
  const h = await harness({ config: { admin_token: 'admin-token-for-tests', trash_clean_interval: '100ms', gc_scan_interval: '1h' } })
  t.teardown(() => h.close())
  const admin = h.client({ ...ROOT, token: 'admin-token-for-tests' }, 'admin')
  const alice = h.client(ALICE, 'alice')
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(admin.request({ type: 'mkdirs', path: { path: '/home' }, perm: 0o777, recursive: false }))
  const f = await run(alice.request({ type: 'create', path: { path: '/home/f' }, flags: { access: 'write' }, perm: 0o644, session: 'x' }))
  await t.rejects(run(alice.request({ type: 'list-sessions' })), { code: 'EPERM', message: /needs an admin token/ })
  await t.rejects(run(alice.request({ type: 'list-sessions', user: { ...ALICE, token: 'wrong-token-wrong-token' } })), { code: 'EPERM' })
  const sessions = await run(admin.request({ type: 'list-sessions' }))
  t.same(sessions.map((s) => [s.inode, s.sessionId, s.clientId]), [[f.inode.id, 'x', 'alice']])
  t.same(await run(admin.request({ type: 'prune-session', client: 'alice' })), { pruned: 1 })
  t.same(await run(admin.request({ type: 'list-sessions' })), [])
  await run(alice.request({ type: 'mkdirs', path: { path: '/home/proj/sub' }, perm: 0o755, recursive: true }))
  const moved = await run(alice.request({ type: 'move-to-trash', path: { path: '/home/proj' }, expireMs: 1_000 }))
  t.match(moved.path, /^\/trash\/1000\/\d+-proj$/)
  t.equal((await run(alice.request({ type: 'stat', path: { path: `${moved.path}/sub` } }))).type, 'directory', 'the tree is in the user\'s trash')
  await h.ts.advance(500)
  t.equal((await run(alice.request({ type: 'list', path: { path: '/trash/1000' } }))).entries.length, 1, 'not expired yet')
  await h.ts.advance(1_000)
  t.equal((await run(alice.request({ type: 'list', path: { path: '/trash/1000' } }))).entries.length, 0, 'the cleaner removed it after expiry')
  await t.rejects(run(alice.request({ type: 'move-to-trash', path: { path: '/trash/1000' }, expireMs: 1 })), { code: 'EINVAL', message: /in the trash already/ })
})

t.test('with authenticate on, a request must carry its uid\'s token; set-user by an admin; the stored groups apply', async (t) => {
  const h = await harness({ config: { admin_token: 'admin-token-for-tests', authenticate: true } })
  t.teardown(() => h.close())
  const run = <T>(p: Promise<T>) => h.settle(p)
  const admin = h.client({ ...ROOT, token: 'admin-token-for-tests' }, 'admin')
  await run(admin.request({ type: 'set-user', record: { uid: 1000, name: 'alice', gid: 100, groups: [100, 7], token: 'alice-secret-token-1', admin: false } }))
  await t.rejects(run(admin.request({ type: 'set-user', record: { uid: 1001, name: 'x', gid: 1, groups: [], token: 'short', admin: false } })), { code: 'EINVAL', message: /at least 16 characters/ })
  await t.rejects(run(h.client(ALICE).request({ type: 'stat', path: { path: '/' } })), { code: 'EPERM', message: /gave no token/ })
  await t.rejects(run(h.client({ ...ALICE, token: 'guess-guess-guess' }).request({ type: 'stat', path: { path: '/' } })), { code: 'EPERM', message: /not the token of uid 1000/ })
  const who = await run(h.client({ uid: 1000, gid: 1, token: 'alice-secret-token-1' }).request({ type: 'authenticate' }))
  t.same(who, { uid: 1000, gid: 100, groups: [100, 7], token: 'alice-secret-token-1' }, 'the stored gid and groups replace the claimed ones')
  await t.rejects(run(h.client({ uid: 1000, gid: 1, token: 'alice-secret-token-1' }).request({ type: 'list-sessions' })), { code: 'EPERM', message: /not an admin/ })
})
