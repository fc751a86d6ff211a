/**
 * `t3fs admin wait-sync` against real `t3fs launch` processes: a storage node is killed while
 * chunks are written, launched again, and the command follows its target back to SERVING on
 * progress lines (stderr, plain lines: not a terminal here), then lists the targets (stdout). On a
 * terminal the same command redraws one line and ends it. The figures of a poll (chunks compared
 * over every target seen syncing, targets behind, per-target copy rate) are checked on their own.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { adminCommand, type AdminDeps } from '../../../actors/mgmtd/admin/cli.ts'
import { noteSync, syncFigures, type SyncSeen } from '../../../actors/mgmtd/admin/wait-sync.ts'
import type { MgmtdMsg, TargetInfo } from '../../../actors/mgmtd/protocol.ts'
import { makeChunkId } from '../../../actors/storage/chunk-id.ts'
import { connectToNode } from '../../../runtime/node-client.ts'
import { sleepMs, startProcessCluster } from '../../support/storage-processes.ts'

t.test('the figures of a poll: chunks compared over the targets seen syncing, targets behind, copy rate', async (t) => {
  const target = (id: number, state: TargetInfo['publicState'], done = 0, total = 0, bytes = 0): TargetInfo => ({
    targetId: id, chainId: 1, publicState: state, localState: 'ONLINE', nodeId: 2, diskIndex: 0, usedSizeBytes: 0, address: null,
    syncProgress: state === 'SYNCING' ? { targetId: id, doneChunks: done, totalChunks: total, copiedChunks: done / 2, copiedBytes: bytes } : null,
  })
  const seen: SyncSeen = new Map()
  const waiting = [target(101, 'SERVING'), target(201, 'WAITING'), target(301, 'SERVING')]
  noteSync(seen, waiting)
  t.same(syncFigures(waiting, seen, new Map(), 0), { detail: '1 of 3 targets not SERVING (0 SYNCING): chain 1 target 201 WAITING' }, 'no count before a sync begins')
  const syncing = [target(101, 'SERVING'), target(201, 'SYNCING', 50, 200, 8 << 20), target(301, 'SYNCING', 10, 10, 0)]
  noteSync(seen, syncing)
  t.same(syncFigures(syncing, seen, new Map([[201, { bytes: 4 << 20, atMs: 1_000 }]]), 3_000), {
    done: 60, total: 210,
    detail: '2 of 3 targets not SERVING (2 SYNCING): chain 1 target 201 SYNCING 50/200 chunks (25%), 25 copied (8.00 MiB, 2.00 MiB/s); chain 1 target 301 SYNCING 10/10 chunks (100%), 5 copied (0 B)',
  })
  const oneDone = [target(101, 'SERVING'), target(201, 'SYNCING', 150, 200, 8 << 20), target(301, 'SERVING')]
  noteSync(seen, oneDone)
  t.equal(syncFigures(oneDone, seen, new Map(), 4_000).done, 160, 'a target that finished keeps its chunks in the count')
  const all = [target(101, 'SERVING'), target(201, 'SERVING'), target(301, 'SERVING')]
  noteSync(seen, all)
  t.same(syncFigures(all, seen, new Map(), 5_000), { done: 210, total: 210, detail: 'all 3 targets SERVING' })
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
  const admin = async (args: string[], tty = false): Promise<{ code: number; out: string; err: string; writes: string[] }> => {
    const out: string[] = []
    const err: string[] = []
    const stderr = { isTTY: tty, write: (s: string) => err.push(s) }
    const code = await adminCommand(['--mgmtd', `127.0.0.1:${mgmtdPort}`, '--timeout', '10000', ...args], { stdout: { write: (s: string) => out.push(s) }, stderr }, deps)
    return { code, out: out.join(''), err: err.join(''), writes: err }
  }
  t.equal((await admin(['wait-sync', '--interval', '1ms'])).code, 2, 'an interval below 50ms is a usage error')
  await cluster.allServing(60_000)
  const [, dead] = cluster.storageNodeIds
  const client = cluster.storageClient()
  cluster.kill(dead)
  for (let i = 0; i < 200 && !(await cluster.routing()).targets.some((x) => x.nodeId === dead && x.publicState === 'OFFLINE'); i++) await sleepMs(100)
  // Enough chunks that the sync usually outlasts a heartbeat or two, so mgmtd shows its progress.
  for (let i = 0; i < 192; i += 8) {
    await Promise.all(Array.from({ length: 8 }, (_, j) => client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(5n, i + j), offset: 0, data: new Uint8Array(64 * 1024).fill(i + j), chunkSizeBytes: 64 * 1024 }, { timeoutMs: 30_000 })))
  }
  await cluster.launch(dead)
  const result = await admin(['wait-sync', '--chain-id', '1', '--interval', '100ms', '--max-wait', '90s'])
  t.equal(result.code, 0, result.err.slice(-500))
  const lines = result.err.trim().split('\n')
  t.comment(lines.join('\n'))
  t.match(lines[0], /^wait-sync: sync .*1 of 2 targets not SERVING \(\d SYNCING\): chain 1 target \d+ (OFFLINE|WAITING|SYNCING)/, 'the first line, at once: which target is behind')
  const last = lines[lines.length - 1]
  t.match(last, /^wait-sync: sync .*· all 2 targets SERVING · done in /, 'the last line: every target serves')
  const count = /^wait-sync: sync (\d+)\/(\d+) chunks \(100%\)/.exec(last)
  if (count !== null) t.equal(count[1], count[2], `chunks compared of those seen syncing: ${count[1]}/${count[2]}`)
  else t.comment('the sync ended between two polls before mgmtd showed its progress: no chunk count on the line')
  t.notOk(/[\u0000-\u0009\u000b-\u001f]/.test(result.err), 'no control characters: stderr is not a terminal')
  t.match(result.out, /SERVING/)
  t.notMatch(result.out, /wait-sync:/, 'progress never goes to stdout')
  t.ok((await cluster.routing()).targets.every((x) => x.publicState === 'SERVING'))

  const tty = await admin(['wait-sync', '--chain-id', '1'], true)
  t.equal(tty.code, 0, tty.err)
  t.ok(tty.writes.length >= 2 && tty.writes.every((w) => w.startsWith('\rwait-sync: sync') && w.includes('\x1b[K')), `a terminal gets the line redrawn in place: ${JSON.stringify(tty.writes)}`)
  t.match(tty.writes[tty.writes.length - 1], /· all 2 targets SERVING · done in [\d.]+ s\x1b\[K\n$/, 'and ended with a newline')
})
