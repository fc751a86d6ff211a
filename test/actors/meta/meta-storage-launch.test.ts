/**
 * Meta over real storage with launched processes: mgmtd and a meta server in node 1 (meta finds
 * mgmtd by name, as a profile's `mgmtd_node = 1` says, and storage through mgmtd's routing),
 * three storage nodes on io_uring disks with chains of three, and this process as a client node
 * writing a file's chunks through the storage client over TCP. What the simulator checks, once
 * for real: close without a hint gives storage's length, truncate cuts the chunks, GC removes a
 * deleted file's chunks from every replica, statFs adds up the storage nodes' disks.
 */
import t from 'tap'
import { MetaClient } from '../../../actors/meta/meta-client.ts'
import type { FileInode, MetaMsg } from '../../../actors/meta/protocol.ts'
import { chunkIdParts } from '../../../actors/storage/chunk-id.ts'
import { piecesOf, type FileLayout } from '../../../actors/storage/client/layout.ts'
import type { ChunkMeta, ReplicaMsg } from '../../../actors/storage/protocol.ts'
import { systemClock } from '../../../runtime/clock.ts'
import { systemRandom } from '../../../runtime/random.ts'
import { sleepMs, startProcessCluster } from '../../support/storage-processes.ts'

const CS = 64 * 1024

const metaProfile = [
  '[[actors]]', 'name = "meta"', 'module = "actors/meta/meta-actor.ts"', 'export = "metaActor"', 'host = 1', '[actors.params]',
  'server_id = 100', 'mgmtd_node = 1', 'gc_file_delay = "0ms"', 'gc_scan_interval = "100ms"', 'gc_retry_delay = "500ms"', 'routing_refresh_interval = "500ms"',
  `root_layout = { tableId = 1, tableVersion = 0, chunkSizeBytes = ${CS}, stripeSize = 3, chains = { kind = "empty" } }`,
].join('\n')

t.test('launched: meta with mgmtd and three storage nodes; lengths, truncate, GC and statFs against real storage', async (t) => {
  const cluster = await startProcessCluster({ storageNodes: 3, chains: 3, chunkSizeBytes: CS, node1Actors: metaProfile })
  t.teardown(() => cluster.close())
  await cluster.allServing(60_000)
  const meta = await cluster.client.lookupRemote<MetaMsg>(1, 'meta', 5_000)
  const client = new MetaClient({ servers: [meta], clientId: 'launch-test', user: { uid: 0, gid: 0 }, clock: systemClock, random: systemRandom, timeoutMs: 15_000 })
  const storage = cluster.storageClient()
  const createWhenPlaced = async (path: string): Promise<FileInode> => {
    for (let i = 0; ; i++) { // meta's first routing may predate the chain table: its refresh brings it
      try {
        return (await client.request({ type: 'create', path: { path }, flags: { access: 'write' }, perm: 0o644, session: `s-${path}` })).inode as FileInode
      } catch (error) {
        if (i > 50) throw error
        await sleepMs(200)
      }
    }
  }
  const write = async (f: FileInode, offset: number, length: number, fill: number): Promise<void> => {
    const routing = await storage.ask({ type: 'routing' })
    for (const p of piecesOf(routing!, f.file.layout as unknown as FileLayout, BigInt(f.id), offset, length)) {
      await storage.ask({ type: 'write', chainId: p.chainId, chunkId: p.chunkId, offset: p.chunkOffset, data: new Uint8Array(p.length).fill(fill), chunkSizeBytes: CS }, { timeoutMs: 30_000 })
    }
  }
  const chunks = async (inodeId: number): Promise<string[]> => {
    const out: string[] = []
    for (const target of (await cluster.routing()).targets) {
      const list = (await cluster.client.system.refFor<ReplicaMsg>(target.address!).ask({ type: 'list-chunks' }, { timeoutMs: 5_000 })) as ChunkMeta[]
      for (const m of list) if (chunkIdParts(m.chunkId).inodeId === BigInt(inodeId)) out.push(`${target.targetId}:${chunkIdParts(m.chunkId).chunkIndex}:${m.lengthBytes}`)
    }
    return out.sort()
  }

  const f = await createWhenPlaced('/launched')
  await write(f, 0, 2 * CS + 500, 1)
  const closed = await client.request({ type: 'close', inode: f.id, session: 's-/launched', updateLength: true })
  t.equal((closed as FileInode).file.length, 2 * CS + 500, 'close without a hint: the length storage holds')
  t.equal((await chunks(f.id)).length, 9, 'three chunks, each on the three replicas of its chain')

  const cut = await client.request({ type: 'truncate', inode: f.id, length: CS + 7 })
  t.same([(cut as FileInode).file.length, (cut as FileInode).file.truncateVer], [CS + 7, 1])
  t.same((await chunks(f.id)).map((c) => c.split(':').slice(1).join(':')).sort(), ['0:65536', '0:65536', '0:65536', '1:7', '1:7', '1:7'], 'chunk 2 removed, chunk 1 cut, on every replica')

  const fs = await client.request({ type: 'stat-fs' })
  t.ok(fs.capacityBytes > 0 && fs.freeBytes <= fs.capacityBytes && fs.usedBytes + fs.freeBytes === fs.capacityBytes, `statFs from the storage nodes: ${JSON.stringify(fs)}`)

  await client.request({ type: 'remove', path: { path: '/launched' }, recursive: false })
  let left = await chunks(f.id)
  for (let i = 0; i < 100 && left.length > 0; i++) {
    await sleepMs(100)
    left = await chunks(f.id)
  }
  t.same(left, [], 'GC removed the deleted file\'s chunks from every replica')
  await t.rejects(client.request({ type: 'stat', inode: f.id }), { code: 'ENOENT' }, 'then its inode')
})
