/**
 * `t3fs admin wait-sync` against real `t3fs launch` processes: a storage node is killed while
 * chunks are written, launched again, and the command follows its target back to SERVING on
 * progress lines, then lists the targets.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { adminCommand, type AdminDeps } from '../../../actors/mgmtd/admin/cli.ts'
import { syncProgressLine } from '../../../actors/mgmtd/admin/wait-sync.ts'
import type { MgmtdMsg, TargetInfo } from '../../../actors/mgmtd/protocol.ts'
import { makeChunkId } from '../../../actors/storage/chunk-id.ts'
import { connectToNode } from '../../../runtime/node-client.ts'
import { sleepMs, startProcessCluster } from '../../support/storage-processes.ts'

t.test('the progress line: targets behind, chunks compared and copied, copy rate', async (t) => {
  const target = (id: number, state: TargetInfo['publicState'], done = 0, total = 0, bytes = 0): TargetInfo => ({
    targetId: id, chainId: 1, publicState: state, localState: 'ONLINE', nodeId: 2, diskIndex: 0, usedSizeBytes: 0, address: null,
    syncProgress: state === 'SYNCING' ? { targetId: id, doneChunks: done, totalChunks: total, copiedChunks: done / 2, copiedBytes: bytes } : null,
  })
  const line = syncProgressLine([target(101, 'SERVING'), target(201, 'SYNCING', 50, 200, 8 << 20)], new Map([[201, { bytes: 4 << 20, atMs: 1_000 }]]), 3_000, 12_000)
  t.equal(line, 'sync: 1 of 2 targets not SERVING: chain 1 target 201 SYNCING 50/200 chunks (25%), 25 copied (8.0 MiB, 2.0 MiB/s) · 12 s')
  t.equal(syncProgressLine([target(101, 'SERVING')], new Map(), 0, 1_500), 'sync: all 1 targets SERVING after 1.5 s')
})

t.test('wait-sync follows a returning target until it is SERVING', async (t) => {
  const cluster = await startProcessCluster({ storageNodes: 2, chains: 1, chunkSizeBytes: 64 * 1024 })
  t.teardown(() => cluster.close())
  const mgmtdPort = Number(/127\.0\.0\.1:(\d+)/.exec(readFileSync(cluster.nodes.get(1)!.profile, 'utf8'))![1])
  let clientNode = 62100
  const deps: AdminDeps = {
    async connect(target) {
      const client = await connectToNode({ address: target.address, node: target.node, clientNode: clientNode++, clusterId: 'storage-test', connectTimeoutMs: target.timeoutMs })
      return { mgmtd: await client.lookup<MgmtdMsg>(target.name), close: () => client.close() }
    },
    readFile: async () => '',
  }
  const admin = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    const out: string[] = []
    const err: string[] = []
    const code = await adminCommand(['--mgmtd', `127.0.0.1:${mgmtdPort}`, '--timeout', '10000', ...args], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, deps)
    return { code, out: out.join(''), err: err.join('') }
  }
  t.equal((await admin('wait-sync', '--interval', '1ms')).code, 2, 'an interval below 50ms is a usage error')
  await cluster.allServing(60_000)
  const [, dead] = cluster.storageNodeIds
  const client = cluster.storageClient()
  cluster.kill(dead)
  for (let i = 0; i < 200 && !(await cluster.routing()).targets.some((x) => x.nodeId === dead && x.publicState === 'OFFLINE'); i++) await sleepMs(100)
  for (let i = 0; i < 24; i++) {
    await client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(5n, i), offset: 0, data: new Uint8Array(64 * 1024).fill(i), chunkSizeBytes: 64 * 1024 }, { timeoutMs: 30_000 })
  }
  await cluster.launch(dead)
  const result = await admin('wait-sync', '--chain-id', '1', '--interval', '100ms', '--max-wait', '90s')
  t.equal(result.code, 0, result.err.slice(-500))
  const lines = result.err.trim().split('\n')
  t.ok(lines.some((l) => /targets not SERVING/.test(l)), `progress lines while the target was behind (${lines.length} lines; first: ${lines[0]})`)
  t.match(lines[lines.length - 1], /^sync: all 2 targets SERVING after/)
  t.match(result.out, /SERVING/)
  t.ok((await cluster.routing()).targets.every((x) => x.publicState === 'SERVING'))
})
