/**
 * A meta server on a node of its own, as on a machine of configs/multi: `t3fs launch` processes
 * for mgmtd (node 1, no meta server there), three storage nodes and a meta node (201). The meta
 * node heartbeats to mgmtd as META with its endpoint and its meta actor; `t3fs status` lists it;
 * connectFileClient without metaNodes finds it through the routing info and creates, writes and
 * reads a file; so does the USRBIO actor of a client node (301) that names no meta node, from its
 * own FileClient. Killed, the node goes HEARTBEAT_FAILED (and a new client is told clearly that no
 * meta server is reachable); launched again, it is back, and the client that was connected all
 * along, and USRBIO, use the meta server's new life.
 */
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { connectFileClient } from '../../../actors/client/client-node.ts'
import { connectUsrbio } from '../../../actors/client/usrbio/client.ts'
import type { FileClient } from '../../../actors/client/file-client.ts'
import type { NodeInfo } from '../../../actors/mgmtd/protocol.ts'
import { formatStatus } from '../../../bin/status.ts'
import { sleepMs, startProcessCluster, type ProcessCluster } from '../../support/storage-processes.ts'

const MiB = 1024 * 1024
const META_NODE = 201
const CLIENT_NODE = 301
const CHAINS = 3
const socketPath = `/dev/shm/t3fs-usrbio-meta-node-${process.pid}.sock`

const metaProfile = [
  '[[actors]]', 'name = "meta"', 'module = "actors/meta/meta-actor.ts"', 'export = "metaActor"', 'host = 1', '[actors.params]',
  'server_id = 300', 'mgmtd_node = 1', 'mgmtd_heartbeat_interval = "300ms"', 'routing_refresh_interval = "500ms"',
  `root_layout = { tableId = 1, tableVersion = 0, chunkSizeBytes = ${MiB}, stripeSize = ${CHAINS}, chains = { kind = "empty" } }`,
].join('\n')

/** A client node as configs/multi/client.toml has it: USRBIO with mgmtd's node and no meta_nodes. */
const clientProfile = [
  '[[actors]]', 'name = "usrbio"', 'module = "actors/client/usrbio/usrbio-actor.ts"', 'export = "usrbioActor"', 'host = 1', '[actors.params]',
  `socket_path = ${JSON.stringify(socketPath)}`, 'mgmtd_node = 1',
  '[[buffer_pool]]', 'slot_size = "64KiB"', 'slots = 64', '[[buffer_pool]]', 'slot_size = "1MiB"', 'slots = 96',
].join('\n')

let cluster: ProcessCluster
let nextClientNode = 62_000

t.before(async () => {
  cluster = await startProcessCluster({ storageNodes: 3, chains: CHAINS, chunkSizeBytes: MiB, extraNodes: { [META_NODE]: metaProfile, [CLIENT_NODE]: clientProfile } })
  await cluster.allServing(60_000)
})
t.teardown(async () => {
  await cluster?.close()
  rmSync(socketPath, { force: true }) // the client node was killed: its actor could not remove it
})

const connect = (): Promise<FileClient> => connectFileClient({ mgmtd: `127.0.0.1:${cluster.ports.get(1)}`, mgmtdNode: 1, clusterId: 'storage-test', clientNode: nextClientNode++ })

async function metaNode(until: (n: NodeInfo | undefined) => boolean, what: string, timeoutMs = 30_000): Promise<NodeInfo | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const node = (await cluster.routing().catch(() => null))?.nodes.find((n) => n.nodeId === META_NODE)
    if (until(node)) return node
    if (Date.now() > deadline) throw new Error(`node ${META_NODE} not ${what} after ${timeoutMs} ms: ${JSON.stringify(node)}`)
    await sleepMs(200)
  }
}

/** Retries while meta (re)learns the chain table or the client (re)connects to the meta node. */
async function eventually<T>(work: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await work()
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleepMs(200)
    }
  }
}

async function writeFile(fs: FileClient, path: string, data: Buffer): Promise<void> {
  const h = await fs.create(path)
  await fs.write(h, data, 0)
  await fs.close(h)
}

/** Writes `data` to `path` through the USRBIO actor (one SQE), reads it back the same way. */
async function usrbioRoundTrip(path: string, data: Buffer): Promise<Buffer> {
  const io = await connectUsrbio({ socketPath })
  try {
    const region = await io.createRegion(data.length)
    const ring = await io.createRing(4)
    region.bytes.set(data)
    const f = await io.open(path, { write: true, create: true })
    ring.prepWrite(region, 0, f, 0, data.length, 1)
    ring.submit()
    const [w] = await ring.wait(1)
    if (w.error !== null) throw w.error
    await io.closeFile(f)
    region.bytes.fill(0)
    const r = await io.open(path)
    ring.prepRead(region, 0, r, 0, data.length, 2)
    ring.submit()
    const [read] = await ring.wait(1)
    if (read.error !== null) throw read.error
    await io.closeFile(r)
    return Buffer.from(region.bytes.subarray(0, read.result))
  } finally {
    await io.close()
  }
}

async function readFile(fs: FileClient, path: string, length: number): Promise<Buffer> {
  const h = await fs.open(path)
  const back = Buffer.alloc(length)
  let got = 0
  while (got < length) {
    const n = await fs.read(h, back, got, length - got, got)
    if (n === 0) break
    got += n
  }
  await fs.close(h)
  return back.subarray(0, got)
}

t.test('the meta node is in the routing info as META, with its endpoint and its meta actor; status shows it', async (t) => {
  const node = await metaNode((n) => n?.status === 'HEARTBEAT_CONNECTED', 'connected')
  t.match(node, { type: 'META', endpoint: `127.0.0.1:${cluster.ports.get(META_NODE)}` })
  t.same(Object.keys(node!.services), ['meta'], 'its services: the meta actor by name')
  t.equal(node!.services.meta.node, META_NODE, 'at an address of that node')
  const routing = await cluster.routing()
  t.notOk(routing.nodes.some((n) => n.nodeId === 1 && n.type === 'META'), 'mgmtd\'s node is no META node')
  const text = formatStatus({ routing, fuse: null, fuseError: 'none here', localMounts: [] })
  t.match(text, new RegExp(`\\b${META_NODE}\\s+META\\s+HEARTBEAT_CONNECTED\\s+127\\.0\\.0\\.1:${cluster.ports.get(META_NODE)}`), '`t3fs status` lists it')
})

t.test('connectFileClient without metaNodes uses it; it fails, returns, and the client follows', async (t) => {
  const data = randomBytes(3 * MiB + 12_345)
  const fs = await connect()
  t.teardown(() => fs.shutdown())
  await eventually(() => writeFile(fs, '/on-meta-node', data))
  t.equal((await fs.stat('/on-meta-node')).sizeBytes, data.length, 'meta on node 201 recorded the length')
  t.ok((await readFile(fs, '/on-meta-node', data.length)).equals(data), 'every byte reads back')
  const before = (await metaNode((n) => n?.status === 'HEARTBEAT_CONNECTED', 'connected'))!.services.meta

  const viaUsrbio = randomBytes(2 * MiB + 4_321)
  t.ok((await eventually(() => usrbioRoundTrip('/usrbio-before', viaUsrbio))).equals(viaUsrbio), 'USRBIO, naming no meta node, found meta on node 201: a file written and read back')
  t.equal((await fs.stat('/usrbio-before')).sizeBytes, viaUsrbio.length, 'and the connected client sees its length')

  cluster.kill(META_NODE)
  await metaNode((n) => n?.status === 'HEARTBEAT_FAILED', 'HEARTBEAT_FAILED')
  t.pass('killed, the meta node goes HEARTBEAT_FAILED in the routing info')
  await t.rejects(connect(), { code: 'ERR_CLIENT_CONNECT', message: new RegExp(`no meta server.*META nodes: ${META_NODE} HEARTBEAT_FAILED`) }, 'a new client is told no meta server is reachable, and why')

  await cluster.launch(META_NODE)
  const back = await metaNode((n) => n?.status === 'HEARTBEAT_CONNECTED', 'connected again')
  t.not(back!.services.meta.incarnation, before.incarnation, 'launched again: connected, with the address of its new life')
  const more = randomBytes(MiB)
  await eventually(() => writeFile(fs, '/after-return', more))
  t.ok((await readFile(fs, '/after-return', more.length)).equals(more), 'the client connected all along creates, writes and reads through it')
  const afterReturn = randomBytes(MiB + 99)
  t.ok((await eventually(() => usrbioRoundTrip('/usrbio-after', afterReturn))).equals(afterReturn), 'USRBIO, started before the restart, follows the meta server into its new life')
  const fresh = await connect()
  t.teardown(() => fresh.shutdown())
  t.ok((await eventually(() => readFile(fresh, '/on-meta-node', data.length))).equals(data), 'a new client reads the first file')
})
