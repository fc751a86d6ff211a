/**
 * One cluster on several "machines": real `t3fs launch` processes, each in a network namespace of
 * its own (test/support/netns.ts), joined by veth links to a bridge, on a private subnet. Node 1
 * (mgmtd and a meta server on LMDB) and three storage nodes, four chains of three replicas; this
 * process is the client machine: storage clients writing block-tagged chunks (the chaos test's
 * writers and checker) and a FileClient (connectFileClient, which reaches the storage nodes at the
 * endpoints they report to mgmtd).
 *
 * Then storage node 10002's cable is pulled (its bridge port down; the process keeps running and
 * nobody gets a reset) while the writes go on: its targets must go OFFLINE in mgmtd's routing and
 * writes must keep being acknowledged by the two replicas left. The cable goes back: the node
 * rejoins (the same process), its targets sync back to SERVING, and every chunk read from every
 * replica holds the same bytes, with nothing older than an acknowledged write; every file the
 * FileClient closed reads back as written.
 *
 * Needs root and iproute2; skips with the reason otherwise. No wall-clock assertions: every wait
 * has a generous deadline (CI machines are small and loaded).
 */
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { connectFileClient } from '../../actors/client/client-node.ts'
import type { FileClient } from '../../actors/client/file-client.ts'
import type { RoutingInfo } from '../../actors/mgmtd/protocol.ts'
import { makeChunkId, type ChunkId } from '../../actors/storage/chunk-id.ts'
import { chunkSizeBytes, readLoop, verify, writeLoop, type Writer } from '../chaos/storage-chaos.ts'
import { blockBytes, StorageHistory } from '../sim/storage-history.ts'
import { createNetnsLab, netnsSkipReason, type NetnsLab } from '../support/netns.ts'
import { sleepMs, startProcessCluster, type ProcessCluster } from '../support/storage-processes.ts'

const CLUSTER_ID = 'storage-test'
const CHAINS = 4
const CHUNKS_PER_CHAIN = 8
const CUT_NODE = 10_002
const FILE_BYTES = 4 * chunkSizeBytes + 12_345
/** Acknowledged storage writes to see before the cut, and again after the cut node went OFFLINE. */
const WRITES_PER_PHASE = 40
const nsName = (nodeId: number): string => (nodeId === 1 ? 'm1' : `s${nodeId - 10_000}`)

const skip = netnsSkipReason()
if (skip !== null) t.comment(`skipping the netns cluster test: ${skip}`)

const meta = [
  '[[actors]]', 'name = "meta"', 'module = "actors/meta/meta-actor.ts"', 'export = "metaActor"', 'host = 2', '[actors.params]',
  'server_id = 100', 'mgmtd_node = 1',
  `root_layout = { tableId = 1, tableVersion = 0, chunkSizeBytes = ${chunkSizeBytes}, stripeSize = ${CHAINS}, chains = { kind = "empty" } }`,
  '[placement]', 'numa_domains = [0]', 'hosts_per_domain = 2',
].join('\n')

/** Polls `probe` until it returns a value (not undefined); fails naming `what` after `timeoutMs`. */
async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>, last: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms ${last()}`)
    await sleepMs(200)
  }
}

const describeChains = (info: RoutingInfo | null): string =>
  info?.chains.map((c) => `${c.chainId}[${c.targets.map((x) => `${x.targetId}:${x.publicState}`).join(' ')}]`).join(' ') ?? 'no routing info'

async function writeFile(fs: FileClient, path: string): Promise<Uint8Array> {
  const bytes = new Uint8Array(randomBytes(FILE_BYTES))
  const h = await fs.create(path)
  await fs.write(h, bytes, 0)
  await fs.close(h)
  return bytes
}

async function readFile(fs: FileClient, path: string): Promise<Buffer> {
  const h = await fs.open(path)
  const into = new Uint8Array(FILE_BYTES + 1)
  let got = 0
  for (let n = -1; n !== 0 && got < into.length; got += n) n = await fs.read(h, into, got, into.length - got, got)
  await fs.close(h)
  return Buffer.from(into.subarray(0, got))
}

/** A FileClient from this machine once meta can create files (it learns the chain table on its own schedule). */
async function fileClient(lab: NetnsLab, cluster: ProcessCluster): Promise<FileClient> {
  const fs = await connectFileClient({ mgmtd: `${lab.address('m1')}:${cluster.ports.get(1)}`, mgmtdNode: 1, clusterId: CLUSTER_ID, connectTimeoutMs: 20_000 })
  await waitFor('a file created through meta', 60_000, async () => {
    await fs.close(await fs.create('/.probe'))
    await fs.unlink('/.probe')
    return true
  })
  return fs
}

/** What the phases of the test share. */
interface Run {
  readonly lab: NetnsLab
  readonly c: ProcessCluster
  readonly fs: FileClient
  readonly w: Writer
  readonly chunks: { chainId: number; chunkId: ChunkId }[]
  /** Files the FileClient closed, with their bytes. */
  readonly files: Map<string, Uint8Array>
  readonly cutTargets: Set<number>
}

const acked = (run: Run): number => run.w.history.counts.acked
const cutOffline = (run: Run, info: RoutingInfo): boolean => info.targets.filter((x) => run.cutTargets.has(x.targetId)).every((x) => x.publicState === 'OFFLINE')

async function writeFiles(run: Run, prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) run.files.set(`/${prefix}-${i}`, await writeFile(run.fs, `/${prefix}-${i}`))
}

async function waitAcked(run: Run, what: string, atLeast: number, timeoutMs: number): Promise<void> {
  await waitFor(what, timeoutMs, async () => (acked(run) >= atLeast ? true : undefined), () => `(${acked(run)} acknowledged; ${run.w.errors.join('; ')})`)
}

/** The cable out: the node's targets go OFFLINE, and writes go on through the two replicas left. Returns the writes acknowledged meanwhile. */
async function cutPhase(t: Test, run: Run): Promise<number> {
  run.lab.cut(nsName(CUT_NODE))
  t.comment(`node ${CUT_NODE} cut off after ${acked(run)} acknowledged writes; its targets ${[...run.cutTargets].join(', ')}`)
  let info: RoutingInfo | null = null
  await waitFor(`targets of node ${CUT_NODE} OFFLINE in mgmtd's routing`, 60_000, async () => {
    info = await run.c.routing()
    return cutOffline(run, info) ? true : undefined
  }, () => describeChains(info))
  t.pass(`mgmtd has every target of node ${CUT_NODE} OFFLINE: ${describeChains(info)}`)
  const atOffline = acked(run)
  await writeFiles(run, 'during', 3)
  await waitAcked(run, `${WRITES_PER_PHASE} more acknowledged writes with node ${CUT_NODE} cut off`, atOffline + WRITES_PER_PHASE, 90_000)
  const whileCut = acked(run) - atOffline
  t.ok(cutOffline(run, await run.c.routing()), `still OFFLINE after ${whileCut} writes acknowledged by the two replicas left`)
  return whileCut
}

/** The cable back: the same process rejoins and its targets sync back to SERVING. */
async function restorePhase(t: Test, run: Run): Promise<void> {
  run.lab.restore(nsName(CUT_NODE))
  t.comment(`node ${CUT_NODE} reconnected`)
  const seen = new Set<string>()
  let info: RoutingInfo | null = null
  await waitFor('every chain SERVING again', 180_000, async () => {
    info = await run.c.routing()
    for (const x of info.targets) if (run.cutTargets.has(x.targetId)) seen.add(`${x.publicState}/${x.localState}`)
    return info.chains.every((ch) => ch.targets.every((x) => x.publicState === 'SERVING')) && info.targets.every((x) => x.localState === 'UPTODATE') ? true : undefined
  }, () => describeChains(info))
  t.comment(`states of its targets seen on the way back (sampled): ${[...seen].join(', ')}`)
  t.pass(`node ${CUT_NODE} rejoined: every chain SERVING with its targets UPTODATE`)
}

/** Every chunk from every replica, every file through the FileClient. */
async function checkPhase(t: Test, run: Run, whileCut: number): Promise<void> {
  const verdict = await verify(run.c, await run.c.allServing(120_000), run.chunks, run.w.history)
  t.comment(`acknowledged ${acked(run)} (${whileCut} while cut off), indeterminate ${run.w.history.counts.indeterminate}, reads ${run.w.history.counts.reads}, blocks checked ${verdict.blocks}`)
  t.equal(verdict.blocks, run.chunks.length * 3 * (chunkSizeBytes / blockBytes), 'every block checked on every replica')
  t.equal(verdict.lost, 0, 'no acknowledged write lost on any replica')
  t.equal(verdict.corrupt, 0, 'replicas identical, every block intact')
  t.same(run.w.badReads.slice(0, 3), [], 'no read during the run returned stale or corrupt data')
  for (const [path, bytes] of run.files) t.ok(Buffer.compare(await readFile(run.fs, path), Buffer.from(bytes)) === 0, `${path} reads back as written`)
}

t.test('a cluster across network namespaces: a storage node\'s link cut and restored under writes', { skip: skip ?? false, timeout: 290_000 }, async (t) => {
  const lab = createNetnsLab(['m1', 's1', 's2', 's3'])
  let cluster: ProcessCluster | null = null
  let fs: FileClient | null = null
  const w: Writer = { history: new StorageHistory(() => performance.now()), running: true, errors: [], badReads: [] }
  const loops: Promise<void>[] = []
  t.teardown(async () => {
    w.running = false
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.all(loops), new Promise((r) => (timer = setTimeout(r, 30_000)))])
    clearTimeout(timer)
    await fs?.shutdown().catch(() => {})
    await cluster?.close().catch(() => {})
    await lab.destroy()
  })
  t.comment(`subnet ${lab.subnet}; this process at ${lab.clientAddress}`)
  cluster = await startProcessCluster({
    storageNodes: 3, chains: CHAINS, chunkSizeBytes, node1Actors: meta,
    hostOf: (id) => lab.address(nsName(id)), spawnPrefix: (id) => lab.exec(nsName(id)),
    log: (line) => t.comment(line),
  })
  const c = cluster
  await c.allServing(120_000)
  const endpoints = (await c.routing()).nodes.filter((n) => n.type === 'STORAGE').map((n) => n.endpoint).sort()
  t.same(endpoints, c.storageNodeIds.map((id) => `${lab.address(nsName(id))}:${c.ports.get(id)}`).sort(), 'storage nodes report their own namespace\'s address as endpoint')

  fs = await fileClient(lab, c)
  const run: Run = {
    lab, c, fs, w, files: new Map(),
    chunks: c.chains.flatMap((ch) => Array.from({ length: CHUNKS_PER_CHAIN }, (_, i) => ({ chainId: ch.chainId, chunkId: makeChunkId(BigInt(7000 + ch.chainId), i) }))),
    cutTargets: new Set(c.chains.flatMap((ch) => ch.targets).filter((id) => Math.floor(id / 100) === CUT_NODE - 10_000)),
  }
  await writeFiles(run, 'before', 3)
  for (const client of [c.storageClient({ requestTimeoutMs: 3_000 }), c.storageClient({ requestTimeoutMs: 3_000 })]) {
    loops.push(...[0, 1, 2].map(() => writeLoop(w, client, run.chunks)), readLoop(w, client, run.chunks))
  }
  await waitAcked(run, `${WRITES_PER_PHASE} acknowledged writes before the cut`, WRITES_PER_PHASE, 60_000)

  const whileCut = await cutPhase(t, run)
  await restorePhase(t, run)
  await writeFiles(run, 'after', 2)
  w.running = false
  await Promise.all(loops)
  t.equal(c.nodes.get(CUT_NODE)!.process?.exitCode, null, `node ${CUT_NODE}'s process ran throughout: it rejoined, it was not restarted`)
  await checkPhase(t, run, whileCut)
})
