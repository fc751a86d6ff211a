/**
 * Meta over real storage, end to end in the simulator (no faults): mgmtd, three storage nodes on
 * SimDisks with chains of three, a meta server that finds storage through mgmtd's routing, and a
 * client writing a file's chunks through the storage client with the file's layout. The exact
 * length on close and fsync is what storage holds; truncate cuts (and grows) the chunks, then the
 * inode; GC removes a deleted file's chunks from every chain before the inode; statFs reports the
 * storage nodes' space; storage going away is EIO for what needs it, and GC waits.
 */
import t from 'tap'
import type { FileInode, Inode } from '../../../actors/meta/protocol.ts'
import { chainIndexList } from '../../../actors/meta/layout.ts'
import { makeChunkId } from '../../../actors/storage/chunk-id.ts'
import { buildMetaStorageCluster, CHUNK_SIZE_BYTES, lengthOfChunks, type MetaStorageCluster } from '../../sim/meta-storage-cluster.ts'

const CS = CHUNK_SIZE_BYTES
const bytes = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill)
const lengthOf = (inode: Inode): number => (inode as FileInode).file.length

async function cluster(seed: number, options: Parameters<typeof buildMetaStorageCluster>[2] = {}): Promise<MetaStorageCluster & { run<T>(p: Promise<T>, ms?: number): Promise<T> }> {
  const m = await buildMetaStorageCluster(seed, {}, options)
  await m.ready(5_000)
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 300) // meta's routing refresh sees the chain table
  return Object.assign(m, { run: <T>(p: Promise<T>, ms = 5_000) => m.c.settle(p, m.c.sim.clock.now() + ms) })
}

async function createFile(m: Awaited<ReturnType<typeof cluster>>, path: string, session?: string): Promise<FileInode> {
  const opened = await m.run(m.clients[0].meta.request({ type: 'create', path: { path }, flags: { access: 'write' }, perm: 0o644, ...(session === undefined ? {} : { session }) }))
  return opened.inode as FileInode
}

/** Every replica's chunks of the inode: index → committed length, the same on every replica of a chain. */
async function chunksOf(m: MetaStorageCluster, inodeId: number): Promise<Map<number, number>> {
  const out = new Map<number, number>()
  for (const [targetId, chunks] of await m.stored(inodeId)) {
    for (const ch of chunks) {
      const seen = out.get(ch.index)
      if (seen !== undefined && seen !== ch.lengthBytes) throw new Error(`target ${targetId} holds chunk ${ch.index} at ${ch.lengthBytes} bytes, another replica at ${seen}`)
      out.set(ch.index, ch.lengthBytes)
    }
  }
  return out
}

t.test('close and fsync without a hint take the exact length from the chunks on every chain of the stripe', async (t) => {
  const m = await cluster(1)
  const client = m.clients[0]
  const f = await createFile(m, '/f', 's1')
  t.same(chainIndexList(f.file.layout).slice().sort(), [1, 2, 3], 'the file stripes over the three chains of table 1')
  await m.run(m.write(client, f, 0, bytes(2 * CS + 1000, 1)))
  await m.run(m.write(client, f, 7 * CS + 100, bytes(50, 2)))
  const synced = await m.run(client.meta.request({ type: 'sync', inode: f.id, updateLength: true }))
  t.equal(lengthOf(synced), 7 * CS + 150, 'fsync: chunk 7 (on its own chain) ends the file at 7·64 KiB + 150')
  const chunks = await chunksOf(m, f.id)
  t.same([...chunks].sort((a, b) => a[0] - b[0]), [[0, CS], [1, CS], [2, 1000], [7, 150]], 'what the replicas hold')
  t.equal(lengthOf(synced), lengthOfChunks([...chunks].map(([index, lengthBytes]) => ({ index, lengthBytes }))), 'meta\'s length is storage\'s')
  const holders = await m.stored(f.id)
  const chainsUsed = new Set([...holders].filter(([, list]) => list.length > 0).map(([targetId]) => targetId % 100))
  t.same([...chainsUsed].sort(), [1, 2, 3], 'the chunks are spread over all three chains')

  await m.run(m.write(client, f, 8 * CS, bytes(CS, 3)))
  const closed = await m.run(client.meta.request({ type: 'close', inode: f.id, session: 's1', updateLength: true }))
  t.equal(lengthOf(closed), 9 * CS, 'close: a full chunk 8 ends it at 9·64 KiB')
  t.equal(closed.type === 'file' && closed.file.truncateVer, 0, 'the file only grew: truncateVer stays')
  const stat = await m.run(client.meta.request({ type: 'stat', path: { path: '/f' } }))
  t.equal(lengthOf(stat), 9 * CS, 'stat reads the stored length')
})

t.test('truncate goes through storage (chunks past the end removed, the last one cut or zero-filled), then the inode', async (t) => {
  const m = await cluster(2)
  const client = m.clients[0]
  const f = await createFile(m, '/t')
  await m.run(m.write(client, f, 0, bytes(5 * CS + 300, 7)))
  const cut = await m.run(client.meta.request({ type: 'truncate', inode: f.id, length: CS + 10 }))
  t.same([lengthOf(cut), (cut as FileInode).file.truncateVer], [CS + 10, 1], 'the inode: the new length, truncateVer + 1')
  t.same([...(await chunksOf(m, f.id))].sort((a, b) => a[0] - b[0]), [[0, CS], [1, 10]], 'chunks 2..5 removed from every replica, chunk 1 cut to 10 bytes')
  const read = await m.run(client.storage.ask({ type: 'read', chainId: chainOfChunk(f, 1), chunkId: makeChunkId(BigInt(f.id), 1), offset: 0, length: 100 }))
  t.same([read.lengthBytes, read.bytes[9]], [10, 7], 'the cut chunk keeps its first bytes')

  const grown = await m.run(client.meta.request({ type: 'truncate', inode: f.id, length: 3 * CS + 5 }))
  t.same([lengthOf(grown), (grown as FileInode).file.truncateVer], [3 * CS + 5, 2])
  const chunks = await chunksOf(m, f.id)
  t.equal(chunks.get(3), 5, 'growing makes the new last chunk 5 bytes long (zero-filled)')
  const exact = await m.run(client.meta.request({ type: 'sync', inode: f.id, updateLength: true }))
  t.equal(lengthOf(exact), 3 * CS + 5, 'an exact fsync afterwards agrees with the truncate')

  const empty = await m.run(client.meta.request({ type: 'truncate', inode: f.id, length: 0 }))
  t.equal(lengthOf(empty), 0)
  t.equal((await chunksOf(m, f.id)).size, 0, 'truncate to 0 leaves no chunk')
})

t.test('GC removes a deleted file\'s chunks from every chain of its layout, then the inode; an open file waits', async (t) => {
  const m = await cluster(3)
  const client = m.clients[0]
  const open = await createFile(m, '/open', 's1')
  const closed = await createFile(m, '/closed')
  await m.run(m.write(client, open, 0, bytes(4 * CS + 1, 1)))
  await m.run(m.write(client, closed, CS, bytes(3 * CS, 2)))
  await m.run(client.meta.request({ type: 'remove', path: { path: '/open' }, recursive: false }))
  await m.run(client.meta.request({ type: 'remove', path: { path: '/closed' }, recursive: false }))
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 500)
  t.equal((await chunksOf(m, closed.id)).size, 0, 'the closed file\'s chunks are gone from every replica')
  await t.rejects(m.run(client.meta.request({ type: 'stat', inode: closed.id })), { code: 'ENOENT' }, 'and then its inode')
  t.equal((await chunksOf(m, open.id)).size, 5, 'the open file keeps its chunks')
  t.equal((await m.run(client.meta.request({ type: 'stat', inode: open.id }))).nlink, 0, 'and its inode (nlink 0)')
  await m.run(client.meta.request({ type: 'close', inode: open.id, session: 's1', updateLength: true }))
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 500)
  t.equal((await chunksOf(m, open.id)).size, 0, 'closed at last: its chunks are removed')
  await t.rejects(m.run(client.meta.request({ type: 'stat', inode: open.id })), { code: 'ENOENT' })
})

t.test('statFs reports the storage nodes\' space', async (t) => {
  const m = await cluster(4)
  const client = m.clients[0]
  const f = await createFile(m, '/s')
  await m.run(m.write(client, f, 0, bytes(2 * CS, 1)))
  const fs = await m.run(client.meta.request({ type: 'stat-fs' }))
  const disks = await Promise.all(m.c.storage.map((n) => n.disk!.capacity()))
  t.equal(fs.capacityBytes, disks.reduce((s, d) => s + d.totalBytes, 0), 'capacity: the sum over the three storage nodes\' disks')
  t.ok(fs.usedBytes > 0 && fs.usedBytes + fs.freeBytes === fs.capacityBytes, `used ${fs.usedBytes} + free ${fs.freeBytes} = capacity`)
})

t.test('a storage node dies: meta follows the chains to their new heads; no storage at all: EIO, and GC waits for it', async (t) => {
  const m = await cluster(5)
  const client = m.clients[0]
  const f = await createFile(m, '/d', 's1')
  await m.run(m.write(client, f, 0, bytes(3 * CS + 77, 4)))
  m.c.sim.crashNode(m.c.storage[0])
  const synced = await m.run(client.meta.request({ type: 'sync', inode: f.id, updateLength: true }), 10_000)
  t.equal(lengthOf(synced), 3 * CS + 77, 'the exact length with one storage node down')
  for (const n of m.c.storage.slice(1)) m.c.sim.crashNode(n)
  await t.rejects(m.run(client.meta.request({ type: 'close', inode: f.id, session: 's1', updateLength: true }), 10_000), { code: 'EIO', message: /exact length .* needs storage/ }, 'no storage: the exact length cannot be had')
  await m.run(client.meta.request({ type: 'close', inode: f.id, session: 's1', updateLength: false }))
  await m.run(client.meta.request({ type: 'remove', path: { path: '/d' }, recursive: false }))
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 1_000)
  t.equal((await m.run(client.meta.request({ type: 'stat', inode: f.id }))).nlink, 0, 'GC keeps the inode while its chunks cannot be removed')
  for (const n of m.c.storage) m.c.sim.restartNode(n)
  await m.ready(m.c.sim.clock.now() + 10_000)
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 1_000)
  t.equal((await chunksOf(m, f.id)).size, 0, 'storage back: GC removed the chunks')
  await t.rejects(m.run(client.meta.request({ type: 'stat', inode: f.id })), { code: 'ENOENT' }, 'then the inode')
})

function chainOfChunk(f: FileInode, chunkIndex: number): number {
  const list = chainIndexList(f.file.layout)
  return list[chunkIndex % list.length] // table 1 lists chains 1..3 in order: index = chain id
}


t.test('a late duplicate of an answered truncate does nothing to storage (the file was written past the cut since)', async (t) => {
  const m = await cluster(6)
  const client = m.clients[0]
  const f = await createFile(m, '/dup')
  await m.run(m.write(client, f, 0, bytes(3 * CS, 1)))
  const requestId = client.meta.newRequestId()
  const first = await m.run(client.meta.request({ type: 'truncate', inode: f.id, length: 100, requestId }))
  await m.run(m.write(client, f, 5 * CS, bytes(10, 2)))
  const again = await m.run(client.meta.request({ type: 'truncate', inode: f.id, length: 100, requestId }))
  t.same(again, first, 'the duplicate gets the first answer')
  t.same([...(await chunksOf(m, f.id))].sort((a, b) => a[0] - b[0]), [[0, 100], [5, 10]], 'and the chunk written after the truncate is still there')
})

t.test('a meta server that could not reach mgmtd when it started fetches the routing when a storage call needs it', async (t) => {
  const m = await buildMetaStorageCluster(7, {}, { metaConfig: { routing_refresh_interval: '1h' } })
  m.c.sim.partition(m.metaNodes[0], m.c.mgmtdNodes[0])
  await m.ready(5_000)
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 1_000)
  const run = <T>(p: Promise<T>) => m.c.settle(p, m.c.sim.clock.now() + 5_000)
  const client = m.clients[0]
  await t.rejects(run(client.meta.request({ type: 'create', path: { path: '/a' }, flags: { access: 'write' }, perm: 0o644 })), { code: 'EIO', message: /chain table 1 is not known/ }, 'placing a file needs the table: refused while mgmtd cannot be reached')
  m.c.sim.heal(m.metaNodes[0], m.c.mgmtdNodes[0])
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 2_000) // the connection comes back (routing refresh is 1 h away)
  const a = (await run(client.meta.request({ type: 'create', path: { path: '/a' }, flags: { access: 'write' }, perm: 0o644 }))).inode as FileInode
  t.equal(a.file.layout.chains.kind, 'range', 'once mgmtd is reachable, a create fetches the table on demand and places the file')
  const layout = { tableId: 1, tableVersion: 1, chunkSizeBytes: CS, stripeSize: 2, chains: { kind: 'list' as const, chainIndexes: [2, 3] } }
  const f = (await run(client.meta.request({ type: 'create', path: { path: '/b' }, flags: { access: 'write' }, perm: 0o644, layout }))).inode as FileInode
  await run(m.write(client, f, CS, bytes(1234, 9)))
  const synced = await run(client.meta.request({ type: 'sync', inode: f.id, updateLength: true }))
  t.equal(lengthOf(synced), CS + 1234, 'the exact length: the routing was fetched on demand')
})
