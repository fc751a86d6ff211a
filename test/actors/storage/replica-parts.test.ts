/**
 * The chain replica's pure parts: the exactly-once dedup cache, the per-chunk lock table, the
 * sync plan (which chunks a sync copies), the local-state rules of a storage node, the client's
 * update channels, and the storage config's validation.
 */
import t from 'tap'
import { resolveStorageConfig } from '../../../actors/storage/config.ts'
import { BOOTING, nextLocal } from '../../../actors/storage/local-state.ts'
import { DedupCache } from '../../../actors/storage/replica/dedup-cache.ts'
import { ChunkLockTable } from '../../../actors/storage/replica/lock-table.ts'
import { syncAction } from '../../../actors/storage/replica/sync-plan.ts'
import { UpdateChannels } from '../../../actors/storage/client/update-channels.ts'
import type { ChunkMeta as EngineMeta, ChunkVersionMeta } from '../../../actors/storage/chunk-engine/index.ts'
import type { ChunkMeta, MessageTag } from '../../../actors/storage/protocol.ts'
import type { ChunkId } from '../../../actors/storage/chunk-id.ts'

const tag = (channel: number, seqnum: number, requestId = seqnum): MessageTag => ({ clientId: 'c1', requestId, channel: { id: channel, seqnum } })
const result = (v: number) => ({ lengthBytes: 4096, commitVersion: v, updateVersion: v, checksum: v, commitChainVersion: 1 })

t.test('dedup: a retry gets the cached result, an in-flight one is locked, an older seqnum is a duplicate, a failure is forgotten', async (t) => {
  const d = new DedupCache<ReturnType<typeof result>>(16)
  t.same(d.begin(tag(1, 5), 7), { kind: 'run' })
  t.throws(() => d.begin(tag(1, 5), 7), { code: 'ERR_STORAGE_CHANNEL_LOCKED' }, 'the same update while it runs')
  d.finish(tag(1, 5), 7, result(3))
  t.same(d.begin(tag(1, 5), 7), { kind: 'cached', result: result(3) }, 'a retry after it finished: the same result, not applied again')
  t.same(d.begin(tag(1, 5), 8), { kind: 'run' }, 'channels are per chain')
  t.same(d.begin(tag(1, 9), 7), { kind: 'run' }, 'a newer update on the channel')
  t.throws(() => d.begin(tag(1, 5), 7), { code: 'ERR_STORAGE_DUPLICATE_UPDATE', message: /seqnum 5, below the channel's 9/ })
  d.abandon(tag(1, 9), 7)
  t.same(d.begin(tag(1, 9), 7), { kind: 'run' }, 'a failed update runs again when retried')
  const small = new DedupCache<number>(16)
  for (let c = 0; c < 40; c++) {
    small.begin(tag(c, c + 1), 1)
    if (c !== 3) small.finish(tag(c, c + 1), 1, c)
  }
  t.ok(small.size <= 17, `bounded (${small.size} entries)`)
  t.throws(() => small.begin(tag(3, 4), 1), { code: 'ERR_STORAGE_CHANNEL_LOCKED' }, 'a running entry is never evicted')
  t.same(small.begin(tag(0, 1), 1), { kind: 'run' }, 'the least recently used finished one was')
})

t.test('lock table: one holder per chunk, waiters in arrival order, a bounded queue', async (t) => {
  const locks = new ChunkLockTable(2)
  const order: string[] = []
  const release1 = await locks.acquire('a')
  const second = locks.acquire('a').then((r) => { order.push('second'); return r })
  const third = locks.acquire('a').then((r) => { order.push('third'); return r })
  await t.rejects(locks.acquire('a'), { code: 'ERR_STORAGE_BUSY' }, 'a third waiter is refused')
  const other = await locks.acquire('b')
  t.ok(locks.isHeld('a') && locks.isHeld('b'))
  other()
  release1()
  release1() // twice is harmless
  const r2 = await second
  r2()
  ;(await third)()
  t.same(order, ['second', 'third'])
  t.notOk(locks.isHeld('a'))
})

const version = (v: number, crc: number, length = 4096, chainVersion = 1): ChunkVersionMeta => ({ version: v, chainVersion, lengthBytes: length, crc32c: crc, removed: false, lastRequest: { clientId: 'c', requestId: v }, blockBytes: 65536 })
const local = (committed: ChunkVersionMeta | null, pending: ChunkVersionMeta | null = null): EngineMeta => ({ chainId: 1, chunkId: '0'.repeat(32) as ChunkId, committed, pending })
const remote = (commitVersion: number, checksum: number, pending = false, length = 4096, chainVersion = 1): ChunkMeta => ({ chunkId: '0'.repeat(32) as ChunkId, commitVersion, updateVersion: commitVersion + (pending ? 1 : 0), chainVersion, lengthBytes: length, checksum, pending: pending ? { lengthBytes: length, checksum: 99 } : null })

t.test('sync plan: only what differs is copied; the predecessor is the authority (3FS #345 is a copy, not a forced OFFLINE)', async (t) => {
  t.equal(syncAction(local(version(3, 7)), remote(3, 7)), 'skip', 'identical committed versions')
  t.equal(syncAction(local(version(3, 7)), undefined), 'copy', 'only the predecessor holds it')
  t.equal(syncAction(null, remote(3, 7)), 'remove', 'only the returning target holds it')
  t.equal(syncAction(local(null, version(1, 1)), remote(2, 7)), 'remove', 'a chunk only pending here (an update in flight holds its lock; never the case under it) counts as absent')
  t.equal(syncAction(null, undefined), 'skip')
  t.equal(syncAction(local(version(3, 7)), remote(3, 7, true)), 'copy', 'the returning target holds a pending version: it must not survive')
  t.equal(syncAction(local(version(3, 7)), remote(3, 7, true), true), 'skip', 'the mutant sync-skips-uncommitted ignores it')
  t.equal(syncAction(local(version(3, 7)), remote(4, 8, false, 4096, 5)), 'copy', 'the returning tail committed a version the chain never acknowledged (3FS #345): overwritten, no abort')
  t.equal(syncAction(local(version(5, 7, 4096, 6)), remote(3, 7, false, 4096, 2)), 'copy', 'an older version')
  t.equal(syncAction(local(version(3, 7, 4096)), remote(3, 7, false, 8192)), 'copy', 'same version, another length')
  t.equal(syncAction(local(version(3, 7)), remote(3, 8)), 'copy', 'same version, another checksum')
})

t.test('local state: boot through OFFLINE, UPTODATE when serving or synced, self-healing demotion', async (t) => {
  t.same(nextLocal(BOOTING, 'SERVING', false), BOOTING, 'a booting target reports OFFLINE while mgmtd still counts it in')
  t.same(nextLocal(BOOTING, 'SYNCING', false), BOOTING)
  t.same(nextLocal(BOOTING, 'WAITING', false), BOOTING)
  t.same(nextLocal(BOOTING, 'OFFLINE', false), { localState: 'ONLINE', booting: false }, 'out of the chain: ONLINE')
  t.same(nextLocal(BOOTING, 'LASTSRV', false), { localState: 'ONLINE', booting: false }, 'a returning LASTSRV comes back ONLINE (mgmtd makes it SERVING)')
  t.same(nextLocal(BOOTING, null, false), { localState: 'ONLINE', booting: false }, 'in no chain: a spare')
  const online = { localState: 'ONLINE', booting: false } as const
  t.same(nextLocal(online, 'SERVING', false), { localState: 'UPTODATE', booting: false })
  t.same(nextLocal(online, 'SYNCING', false), online, 'syncing, not done')
  t.same(nextLocal(online, 'SYNCING', true), { localState: 'UPTODATE', booting: false }, 'syncDone at the current chain version')
  const uptodate = { localState: 'UPTODATE', booting: false } as const
  for (const demoted of ['WAITING', 'OFFLINE', 'LASTSRV'] as const) t.same(nextLocal(uptodate, demoted, false), { localState: 'OFFLINE', booting: true }, `UPTODATE + ${demoted}: OFFLINE, and it boots again by itself`)
  t.same(nextLocal(uptodate, 'SERVING', false), uptodate)
  t.same(nextLocal(uptodate, null, false), online, 'left its chain: a spare')
})

t.test('update channels: one update per channel, growing seqnums, a failed update retires its channel', async (t) => {
  const ch = new UpdateChannels('c', 2)
  const a = ch.acquire()
  const b = ch.acquire()
  t.ok(b.channel.seqnum > a.channel.seqnum && a.requestId !== b.requestId)
  t.throws(() => ch.acquire(), { code: 'ERR_STORAGE_BUSY' })
  ch.release(a)
  t.equal(ch.acquire().channel.id, a.channel.id, 'a channel whose update succeeded is reused')
  ch.release(b, true)
  const c = ch.acquire()
  t.not(c.channel.id, b.channel.id, 'a failed one is not: its update may still be on its way')
  t.equal(ch.inUse, 2)
})

t.test('storage config: defaults, 3FS names, durations, and errors that name the knob and what is accepted', async (t) => {
  const c = resolveStorageConfig({ heartbeat_interval: '2s', targets: [1, 2], forward_data: 'inline' })
  t.equal(c.heartbeatIntervalMs, 2_000)
  t.same(c.targets, [1, 2])
  t.equal(c.forwardData, 'inline')
  t.equal(c.serveLeaseMs, 30_000)
  t.throws(() => resolveStorageConfig({ heartbeat_interval: 'soon' }), { code: 'ERR_INVALID_OPTION', message: /option storage\.heartbeat_interval is "soon"; accepted: a number of ms/ })
  t.throws(() => resolveStorageConfig({ targets: [1, 1] }), { message: /storage\.targets .*a list of distinct integers/ })
  t.throws(() => resolveStorageConfig({ bogus: 1 }), { message: /option storage\.bogus is 1; accepted: a known storage option: mgmtd_nodes, .*forward_data/ })
  t.throws(() => resolveStorageConfig({ forward_backoff_min: '2s', forward_backoff_max: '1s' }), { message: /forward_backoff_min .*at most forward_backoff_max/ })
  t.throws(() => resolveStorageConfig({ root: '../etc' }), { message: /storage\.root is "\.\.\/etc"; accepted: a relative path/ })
  t.throws(() => resolveStorageConfig({ max_in_flight: 0 }), { message: /max_in_flight is 0; accepted: an integer from 1 to 65536/ })
})
