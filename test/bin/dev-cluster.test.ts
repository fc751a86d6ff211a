/**
 * `npm start` as a whole: the dev profiles (configs/dev.toml, configs/dev/) launched as one
 * command bring up mgmtd, two meta servers, three storage nodes with chains of three and the FUSE
 * mount; `t3fs status` shows them; Ctrl-C (SIGINT) leaves nothing mounted and no process behind.
 * A kill -9 of the launcher leaves a stale mount (and its storage nodes stop on their own); the next
 * start clears it, mounts again, and the files written before are there.
 */
import t from 'tap'
import { parsePromText, sampleValue } from '../../runtime/metrics/prom-text.ts'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { mountsAt, probeMount } from '../../runtime/fuse-device.ts'
import { mountSkipReason, ownNode, reportClusterOnFailure, startDevCluster } from '../support/dev-cluster.ts'

const run = promisify(execFile)
const skip = mountSkipReason()
if (skip !== null) t.comment(`skipping the dev cluster test: ${skip}`)

const t0 = Date.now()
const phase = (what: string): void => { t.comment(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`) }
const waitFor = async (what: string, test: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

interface StatusJson {
  routing: { nodes: { nodeId: number; type: string }[]; chains: { targets: { publicState: string }[] }[]; targets: unknown[] }
  fuse: { mounted: boolean; mountPoint: string; queues: number } | null
}

t.test('npm start: a mounted cluster, its status, Ctrl-C and a kill -9', { skip: skip ?? false, timeout: 240_000 }, async (t) => {
  const cluster = await startDevCluster({ keepDir: false })
  phase('ready')
  reportClusterOnFailure(t, () => cluster)
  t.teardown(() => cluster.close())
  const { mnt } = cluster

  const status = (await cluster.status()) as StatusJson
  t.same(status.routing.nodes.filter((n) => n.type === 'STORAGE').map((n) => n.nodeId).sort(), [10001, 10002, 10003], 'three storage nodes')
  t.equal(status.routing.chains.length, 4, 'four chains')
  t.ok(status.routing.chains.every((c) => c.targets.length === 3 && c.targets.every((x) => x.publicState === 'SERVING')), 'of three SERVING targets each')
  t.equal(status.routing.targets.length, 12)
  t.equal(status.fuse?.mounted, true, 'the mount is up')
  t.equal(status.fuse?.mountPoint, mnt)
  t.ok((status.fuse?.queues ?? 0) >= 2, 'served on two queues')
  const device = (await mountsAt(mnt)).at(-1)!.device
  await waitFor('the kernel read-ahead to be set', () => readFileSync(`/sys/class/bdi/${device}/read_ahead_kb`, 'utf8').trim() === '4096')
  t.pass('the kernel read-ahead on the mount is 4 MiB (kernel_read_ahead)')
  const text = (await run(process.execPath, [join(import.meta.dirname, '../../bin/t3fs.mjs'), 'status', '--mgmtd', `127.0.0.1:${cluster.port}`])).stdout
  t.match(text, /mounted \(FUSE 7\.\d+\)/, 'the table output names the mount')
  t.match(text, /10003\s+STORAGE\s+HEARTBEAT_CONNECTED/)

  // The quick start: a cp into the mount and ls.
  const data = randomBytes(3 * 1024 * 1024 + 12345)
  const source = join(cluster.dir, 'source.bin')
  writeFileSync(source, data)
  await run('cp', [source, join(mnt, 'copied.bin')])
  t.match((await run('ls', ['-l', mnt])).stdout, /copied\.bin/)
  t.ok(readFileSync(join(mnt, 'copied.bin')).equals(data), 'read back through the mount')
  // [bootstrap]'s layout is the files': 1 MiB chunks striped over all four chains of the table.
  const layout = (await run(process.execPath, [join(import.meta.dirname, '../../bin/t3fs.mjs'), 'admin', '--mgmtd', `127.0.0.1:${cluster.port}`, 'stat', '/copied.bin'])).stdout
  t.match(layout, /Layout\s+table 1 v\d+, chunk 1048576, stripe 4, chains range/, 'the file has [bootstrap]\'s chunk size and a stripe over the four chains')
  // The mount's requests show on node 1's /metrics, per opcode.
  const metrics = parsePromText(await (await fetch(`http://127.0.0.1:${cluster.metricsPort}/metrics`)).text())
  t.ok(sampleValue(metrics, 't3fs_fuse_requests_total', { op: 'WRITE', result: 'ok' }) >= 1, 'FUSE WRITEs counted on /metrics')
  t.ok(sampleValue(metrics, 't3fs_fuse_requests_total', { op: 'CREATE', result: 'ok' }) >= 1, 'the CREATE counted on /metrics')

  // Ctrl-C: everything stops, nothing stays mounted.
  const pids = [...cluster.storagePids.values()]
  t.equal(pids.length, 3)
  t.equal(await cluster.stop(), 0, 'exit code 0 after SIGINT', { log: cluster.log().slice(-4000) })
  t.same(await mountsAt(mnt), [], 'nothing mounted')
  await waitFor('the storage nodes to exit', () => pids.every((p) => !ownNode(p, cluster.dir)))
  t.pass('no storage node left')

  // Again, then kill -9 of the launcher: the mount stays behind, stale; its children stop.
  phase('stopped')
  await cluster.start()
  phase('ready again')
  t.ok(readFileSync(join(mnt, 'copied.bin')).equals(data), 'the file survived the restart')
  const again = [...cluster.storagePids.values()]
  cluster.process!.kill('SIGKILL')
  await waitFor('the launcher to exit', () => cluster.process === null)
  t.equal(await probeMount(mnt, 'fuse.t3fs'), 'stale', 'a stale mount is left')
  await waitFor('the storage nodes to notice their parent died', () => again.every((p) => !ownNode(p, cluster.dir)))
  t.pass('storage nodes stopped with their parent')

  // The next start clears the stale mount and serves again.
  phase('killed')
  await cluster.start()
  phase('ready after the kill')
  t.match(cluster.log(), /FuseStaleMountCleared/, 'the stale mount was cleared')
  t.same((await readdir(mnt)).sort(), ['copied.bin'])
  t.equal((await stat(join(mnt, 'copied.bin'))).size, data.length)
  t.equal(await cluster.stop(), 0, 'exit code 0 after SIGINT, after a start that cleared a stale mount', { log: cluster.log().slice(-4000) })
  t.same(await mountsAt(mnt), [], 'nothing mounted at the end')
})
