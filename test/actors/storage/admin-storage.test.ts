/**
 * `t3fs admin` storage commands against real `t3fs launch` processes (mgmtd + two storage nodes):
 * create-target and remove-target reach a node's storage service at the endpoint its heartbeats
 * report; list-targets shows used space and spares; a new target is a spare until a chain holds it.
 */
import t from 'tap'
import { adminCommand, type AdminDeps } from '../../../actors/mgmtd/admin/cli.ts'
import type { MgmtdMsg } from '../../../actors/mgmtd/protocol.ts'
import { makeChunkId } from '../../../actors/storage/chunk-id.ts'
import { connectToNode } from '../../../runtime/node-client.ts'
import { sleepMs, startProcessCluster } from '../../support/storage-processes.ts'

const cluster = await startProcessCluster({ storageNodes: 2, chains: 2, chunkSizeBytes: 64 * 1024 })
t.teardown(() => cluster.close())
const mgmtdPort = Number(/127\.0\.0\.1:(\d+)/.exec((await import('node:fs')).readFileSync(cluster.nodes.get(1)!.profile, 'utf8'))![1])

let clientNode = 62000
const deps: AdminDeps = {
  async connect(target) {
    const client = await connectToNode({ address: target.address, node: target.node, clientNode: clientNode++, clusterId: 'storage-test', connectTimeoutMs: target.timeoutMs })
    return { mgmtd: await client.lookup<MgmtdMsg>(target.name), close: () => client.close() }
  },
  readFile: async () => '',
  async connectNode(endpoint, nodeId, timeoutMs) {
    const client = await connectToNode({ address: endpoint, node: nodeId, clientNode: clientNode++, clusterId: 'storage-test', connectTimeoutMs: timeoutMs })
    return { refFor: (address) => client.system.refFor(address), close: () => client.close() }
  },
}

async function admin(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await adminCommand(['--mgmtd', `127.0.0.1:${mgmtdPort}`, '--timeout', '10000', ...args], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, deps)
  return { code, out: out.join(''), err: err.join('') }
}

t.test('create-target, list-targets (used space, spares), remove-target', async (t) => {
  await cluster.allServing(60_000)
  const client = cluster.storageClient()
  await sleepMs(500)
  await client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(9n, 0), offset: 0, data: new Uint8Array(65536).fill(3), chunkSizeBytes: 65536 }, { timeoutMs: 20_000 })
  let r = await admin('create-target', '--node-id', '10002', '--target-id', '290')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /TargetId\s+ChainId\s+NodeId\s+LocalState\s+PublicState\s+UsedSize\s+Chunks\n290\s+-\s+10002/)
  r = await admin('create-target', '--node-id', '10002', '--target-id', '290')
  t.equal(r.code, 1)
  t.match(r.err, /target 290 already exists on node 10002 \[ERR_STORAGE_TARGET_EXISTS\]/)
  t.match((await admin('create-target', '--node-id', '1', '--target-id', '5')).err, /node 1 is a MGMTD node without a storage service/)
  t.equal((await admin('create-target', '--target-id', '5')).code, 2, 'a missing --node-id is a usage error')
  // The node reports it at its next heartbeat: a spare.
  let spares: { targetId: number; publicState: string }[] = []
  for (let i = 0; i < 50 && !spares.some((x) => x.targetId === 290); i++) {
    await sleepMs(200)
    spares = (JSON.parse((await admin('list-targets', '--json')).out) as { targetId: number; publicState: string }[]).filter((x) => x.publicState === 'SPARE')
  }
  t.same(spares.map((x) => x.targetId), [290], 'the new target is listed as a spare')
  // Each target reports its space at its own node's heartbeat: wait for both, not just the first.
  let used = 0
  for (let i = 0; i < 50 && used < 2 * 65536; i++) {
    await sleepMs(200)
    used = (JSON.parse((await admin('list-targets', '--chain-id', '1', '--json')).out) as { usedSizeBytes: number }[]).reduce((n, x) => n + x.usedSizeBytes, 0)
  }
  t.ok(used >= 2 * 65536, `chain 1's two targets report the space the write used (${used} bytes)`)
  r = await admin('list-targets')
  t.match(r.out, /TargetId\s+ChainId\s+PublicState\s+LocalState\s+NodeId\s+DiskIndex\s+UsedSize\s+SyncProgress/)
  t.match(r.out, /290\s+-\s+SPARE\s+ONLINE\s+10002/)
  r = await admin('remove-target', '--node-id', '10002', '--target-id', '201')
  t.equal(r.code, 1)
  t.match(r.err, /target 201 is SERVING in chain 1; only a target that is OFFLINE or in no chain can be removed/)
  r = await admin('remove-target', '--node-id', '10002', '--target-id', '290')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /target 290 removed from node 10002/)
  t.match((await admin('list-replications')).out, /ChainId\s+DeadTarget\s+SpareTarget\s+SpareState\s+SyncProgress\s+StartedMs/)
})
