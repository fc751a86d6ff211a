/**
 * kill -9 of a storage node while `dd` writes through the mount (dev cluster, chains of three):
 * dd finishes without an error (the client retries while mgmtd takes the dead node's targets out
 * of their chains), and every byte reads back, from storage (the page cache dropped, O_DIRECT).
 * The node then comes back from its profile, its targets sync, and the data still reads back
 * with another node killed.
 */
import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, writeFileSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { mountSkipReason, reportClusterOnFailure, startDevCluster, t3fsBin, type DevCluster } from '../../../support/dev-cluster.ts'

const run = promisify(execFile)
const skip = mountSkipReason()
if (skip !== null) t.comment(`skipping the kill -9 test through the FUSE mount: ${skip}`)
const MiB = 1024 * 1024
const FILE_MIB = 160

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
/** sha256 of a file read with O_DIRECT (dd iflag=direct): from the servers, not the page cache. */
async function shaDirect(file: string): Promise<string> {
  const child = spawn('dd', [`if=${file}`, 'bs=1M', 'iflag=direct', 'status=none'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const h = createHash('sha256')
  let err = ''
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  for await (const c of child.stdout) h.update(c as Buffer)
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`dd read of ${file} failed (${code}): ${err}`)
  return h.digest('hex')
}

interface Routing { chains: { chainId: number; targets: { targetId: number; publicState: string }[] }[] }
async function waitRouting(cluster: DevCluster, what: string, test: (r: Routing) => boolean, timeoutMs = 60_000): Promise<Routing> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const r = ((await cluster.status()) as { routing: Routing }).routing
    if (test(r)) return r
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(r.chains)}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

t.test('kill -9 of a storage node during dd; the data reads back', { skip: skip ?? false, timeout: 280_000 }, async (t) => {
  const cluster = await startDevCluster()
  reportClusterOnFailure(t, () => cluster)
  t.teardown(() => cluster.close())
  const src = join(cluster.dir, 'src.bin')
  const data = randomBytes(FILE_MIB * MiB)
  writeFileSync(src, data)
  const dst = join(cluster.mnt, 'dd.bin')

  const dd = run('dd', [`if=${src}`, `of=${dst}`, 'bs=1M', 'conv=fsync', 'status=none'])
  // Kill once dd is under way (some of the file is written), well before it ends.
  const deadline = Date.now() + 30_000
  while (((await stat(dst).catch(() => null))?.size ?? 0) < 8 * MiB && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  const victim = cluster.storagePids.get(10003)!
  process.kill(victim, 'SIGKILL')
  const killedAt = (await stat(dst)).size
  t.ok(killedAt < data.length, `storage node 10003 killed with ${(killedAt / MiB).toFixed(0)} of ${FILE_MIB} MiB written`)
  await dd
  t.pass('dd finished without an error')
  t.equal((await stat(dst)).size, data.length)
  const offline = await waitRouting(cluster, 'node 10003\'s targets to leave SERVING', (r) => r.chains.every((c) => c.targets.some((x) => Math.floor(x.targetId / 100) === 3 && x.publicState !== 'SERVING')))
  t.ok(offline.chains.every((c) => c.targets.filter((x) => x.publicState === 'SERVING').length === 2), 'every chain serves on the two live replicas')
  await run('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']).catch(() => {})
  t.equal(await shaDirect(dst), sha(data), 'every byte reads back after the kill')

  // The node comes back: its targets sync and serve again; then another node dies.
  const back = spawn(process.execPath, [t3fsBin, 'launch', join(cluster.dir, 'dev/storage3.toml')], { stdio: 'ignore' })
  t.teardown(() => { back.kill('SIGKILL') })
  await waitRouting(cluster, 'every target SERVING again', (r) => r.chains.every((c) => c.targets.length === 3 && c.targets.every((x) => x.publicState === 'SERVING')), 120_000)
  t.pass('node 10003 rejoined and its targets synced')
  process.kill(cluster.storagePids.get(10001)!, 'SIGKILL')
  await waitRouting(cluster, 'node 10001\'s targets to leave SERVING', (r) => r.chains.every((c) => c.targets.some((x) => Math.floor(x.targetId / 100) === 1 && x.publicState !== 'SERVING')))
  t.equal(await shaDirect(dst), sha(data), 'the data reads back from the synced replicas with node 10001 dead')
  // Reads from the file through the mount with a stream too (buffered), after the cache was dropped.
  await run('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches']).catch(() => {})
  const h = createHash('sha256')
  for await (const c of createReadStream(dst, { highWaterMark: 4 * MiB })) h.update(c as Buffer)
  t.equal(h.digest('hex'), sha(data), 'and through the page cache')
})
