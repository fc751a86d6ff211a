/**
 * USRBIO end to end: a cluster of launched processes whose node 1 runs the usrbio actor (beside
 * mgmtd and meta, as a dev profile lists it); a second process (Python, t3fs_usrbio.py) registers
 * shared memory and a ring and does batched reads and writes, checked byte for byte against a
 * FileClient; bad inputs give coded errors; a client killed mid-batch leaves the server serving.
 * The Node API (t3fs/usrbio) is checked from this process too.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FileClient } from '../../../actors/client/file-client.ts'
import { connectUsrbio } from '../../../actors/client/usrbio/client.ts'
import { OFF_SQ_TAIL, RingView } from '../../../actors/client/usrbio/layout.ts'
import { createSharedFile, mapSharedFile, removeSharedFile } from '../../../runtime/shared-memory.ts'
import { maxBadRequests } from '../../../actors/client/usrbio/session.ts'
import type { UsrbioMsg, UsrbioStatus } from '../../../actors/client/usrbio/usrbio-actor.ts'
import { startProcessFs, type ProcessFs } from './process-fs.ts'
import { usrbioActorToml } from './usrbio-toml.ts'

const MiB = 1024 * 1024
const driver = fileURLToPath(new URL('./usrbio-driver.py', import.meta.url))
const socketPath = `/dev/shm/t3fs-usrbio-test-${process.pid}.sock`
const tmp = mkdtempSync(join(tmpdir(), 't3fs-usrbio-'))
let cluster: ProcessFs
let fs: FileClient


function python(command: Record<string, unknown>): Record<string, unknown> {
  const out = execFileSync('python3', [driver, JSON.stringify({ socket: socketPath, ...command })], { encoding: 'utf8', timeout: 120_000 })
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>
}

/** The actor's status (asked again while the link to node 1 recovers: a loaded 2-core machine can miss heartbeats). */
async function status(): Promise<UsrbioStatus> {
  for (let i = 0; ; i++) {
    try {
      const ref = await cluster.client.lookupRemote<UsrbioMsg>(1, 'usrbio', 5_000)
      return (await ref.ask({ type: 'status' })) as UsrbioStatus
    } catch (error) {
      if (i >= 20) throw error
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  }
}

async function readAll(path: string): Promise<Buffer> {
  const h = await fs.open(path, { direct: true })
  const st = await fs.fstat(h)
  const back = Buffer.alloc(st.sizeBytes)
  await fs.read(h, back, 0)
  await fs.close(h)
  return back
}

const hasPython = spawnSync('python3', ['--version']).status === 0

t.before(async () => {
  cluster = await startProcessFs({ extraActors: usrbioActorToml(socketPath, 4), hosts: 4 })
  fs = await cluster.connect({ description: 'usrbio test' })
})
t.teardown(async () => {
  await fs?.shutdown()
  await cluster?.close()
  rmSync(tmp, { recursive: true, force: true })
  rmSync(socketPath, { force: true }) // the node was killed: its actor could not remove it
})

t.test('a second process (Python) reads a batch into its region: every byte as the FileClient reads it', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const data = randomBytes(6 * MiB + 12345)
  const h = await fs.create('/u-read')
  await fs.write(h, data, 0)
  await fs.close(h)
  const ios = [[0, 0, MiB], [MiB, 3 * MiB - 100, 2 * MiB], [3 * MiB, 5 * MiB, 2 * MiB], [5 * MiB, 123, 4096], [6 * MiB, 6 * MiB, 12345], [7 * MiB, 6 * MiB + 12000, 4096], [8 * MiB - 10, 7 * MiB, 10]]
  const out = join(tmp, 'region-read')
  const r = python({ cmd: 'read', path: '/u-read', ios, region: 8 * MiB, out })
  t.same(r.size, data.length, 'open reports the size')
  t.same(r.results, [[0, MiB], [1, 2 * MiB], [2, data.length - 5 * MiB], [3, 4096], [4, 12345], [5, 345], [6, 0]], 'bytes per I/O (short at the end of the file, 0 past it)')
  const region = readFileSync(out)
  const back = await readAll('/u-read')
  t.ok(back.equals(data), 'the FileClient reads what was written')
  for (const [i, [b, o, n]] of ios.entries()) {
    const got = (r.results as number[][])[i][1]
    t.ok(region.subarray(b, b + got).equals(back.subarray(o, o + got)), `I/O ${i}: region[${b}, +${got}) equals the file at ${o}`)
  }
  t.equal((await status()).clients, 0, 'the server forgot the client once it disconnected')
})

t.test('a second process writes a batch from its region: the FileClient reads back every byte', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const ios = [[0, 0, MiB], [MiB, MiB, MiB], [2 * MiB, 2 * MiB + 5000, MiB + 777], [4 * MiB, 9 * MiB, 64 * 1024], [5 * MiB, 3 * MiB + 5000 + 777, 4000]]
  const dataFile = join(tmp, 'region-write')
  const r = python({ cmd: 'write', path: '/u-write', ios, region: 6 * MiB, seed: 7, data: dataFile })
  t.same(r.results, ios.map(([, , n], i) => [i, n]), 'every write completed in full')
  const region = readFileSync(dataFile)
  const expect = Buffer.alloc(9 * MiB + 64 * 1024)
  for (const [b, o, n] of ios) region.copy(expect, o, b, b + n)
  const back = await readAll('/u-write')
  t.equal(back.length, expect.length, 'the file ends after the last write')
  t.ok(back.equals(expect), 'every byte as the region held it (holes read as zeros)')
})

t.test('bad inputs give coded errors; bad SQEs complete with -errno and the ring keeps working', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const h = await fs.create('/u-errors')
  await fs.write(h, randomBytes(100_000), 0)
  await fs.close(h)
  const codes = python({ cmd: 'errors', path: '/u-errors' }) as Record<string, [string, string] | number[]>
  t.equal(codes['bad-region-name'][0], 'ERR_USRBIO_NAME')
  t.match(codes['bad-region-name'][1], /"\.\.\/etc\/passwd".*no '\/'/)
  t.equal(codes['missing-region'][0], 'ERR_USRBIO_REGION')
  t.match(codes['missing-region'][1], /cannot map \/dev\/shm\/t3fs-no-such-region: ENOENT/)
  t.equal(codes['out-of-range'][0], 'ERR_USRBIO_RANGE')
  t.equal(codes['write-on-read-fd'][0], 'ERR_USRBIO_FD')
  t.equal(codes['missing-file'][0], 'ENOENT')
  t.equal(codes['bad-ring-entries'][0], 'ERR_USRBIO_RING')
  t.equal(codes['ring-full'][0], 'ERR_USRBIO_RING_FULL')
  t.equal(codes['zero-region'][0], 'ERR_USRBIO_REQUEST')
  t.match(codes['zero-region'][1], /sizeBytes is 0; accepted: an integer from 1/)
  t.equal(codes.shrink, 1, 'a region the server made cannot be shrunk by the client (EPERM: its size is sealed)')
  t.equal(codes['mapped-twice'][0], 'ERR_USRBIO_REQUEST')
  t.equal(codes['unmapped-limit'][0], 'ERR_USRBIO_LIMIT')
  t.match(codes['unmapped-limit'][1], /8 regions or rings it has not said "mapped" for/)
  t.same(codes['after-full'], [10, 10, 10, 10], 'the full ring drains once submitted')

  // The server checks what a client library might not: SQEs written straight into the ring.
  const io = await connectUsrbio({ socketPath })
  t.teardown(() => io.close())
  const region = await io.createRegion(MiB)
  const ring = await io.createRing(8)
  const f = await io.open('/u-errors')
  const raw = (ring as unknown as { view: RingView }).view
  const put = (i: number, s: Parameters<RingView['writeSqe']>[1]): void => raw.writeSqe(i, s)
  put(0, { op: 1, region: region.id, fd: f.fd, bufOffset: MiB - 10, fileOffset: 0, length: 100, userdata: 1n })
  put(1, { op: 1, region: 999, fd: f.fd, bufOffset: 0, fileOffset: 0, length: 10, userdata: 2n })
  put(2, { op: 1, region: region.id, fd: 777, bufOffset: 0, fileOffset: 0, length: 10, userdata: 3n })
  put(3, { op: 2, region: region.id, fd: f.fd, bufOffset: 0, fileOffset: 0, length: 10, userdata: 4n })
  put(4, { op: 9, region: region.id, fd: f.fd, bufOffset: 0, fileOffset: 0, length: 10, userdata: 5n })
  put(5, { op: 1, region: region.id, fd: f.fd, bufOffset: 0, fileOffset: 0, length: 10, userdata: 6n })
  raw.store(OFF_SQ_TAIL, 6)
  ring.submit()
  const done = (await ring.wait(6)).sort((a, b) => Number(a.userdata - b.userdata))
  t.same(done.map((d) => d.error?.code ?? d.result), ['EFAULT', 'EFAULT', 'EBADF', 'EBADF', 'EINVAL', 10], 'out-of-range iov, unknown region, unknown fd, write on a read fd, bad op; then a good read')
  t.throws(() => ring.prepRead(region, MiB - 1, f, 0, 2), { code: 'ERR_USRBIO_RANGE', message: /outside region/ })
  await t.rejects(io.createRegion(0), { code: 'ERR_USRBIO_RANGE' })
  await t.rejects(io.open('/nope'), { code: 'ENOENT' })
  await t.rejects(connectUsrbio({ socketPath: '/dev/shm/t3fs-no-such.sock' }), { code: 'ENOENT', message: /usrbio actor running/ })
})

t.test('a client killed mid-batch leaves the server healthy: its session ends, the next client is served', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const data = randomBytes(16 * MiB)
  const h = await fs.create('/u-die')
  await fs.write(h, data, 0)
  await fs.close(h)
  const ios = Array.from({ length: 32 }, (_, i) => [(i % 16) * MiB, (i % 16) * MiB, MiB])
  const r = spawnSync('python3', [driver, JSON.stringify({ socket: socketPath, cmd: 'die', path: '/u-die', ios, region: 16 * MiB })], { encoding: 'utf8' })
  t.equal(r.signal, 'SIGKILL', 'the client died by SIGKILL after submitting')
  t.match(r.stdout, /"submitted": 32/)
  for (let i = 0; i < 100 && (await status()).clients > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await status()).clients, 0, 'the dead client\'s session ended')
  const out = join(tmp, 'after-death')
  const again = python({ cmd: 'read', path: '/u-die', ios: [[0, 0, 16 * MiB]], region: 16 * MiB, out })
  t.same(again.results, [[0, 16 * MiB]])
  t.ok(readFileSync(out).equals(data), 'a new client reads every byte')
  for (let i = 0; i < 100 && (await status()).inFlight > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await status()).inFlight, 0, 'the dead batch finished into its (unlinked) mapping and was discarded')
})

t.test('a client flooding the control socket with bad requests is cut off; the server stays healthy', { skip: hasPython ? false : 'python3 is not installed' }, async (t) => {
  const r = python({ cmd: 'flood' }) as { replies: number; closed: boolean }
  t.ok(r.closed && r.replies < 200_000, `the flooder was cut off (after ${maxBadRequests} bad requests): ${JSON.stringify(r)}`)
  for (let i = 0; i < 100 && (await status()).clients > 0; i++) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await status()).clients, 0)
  const data = randomBytes(MiB)
  const h = await fs.create('/u-flood')
  await fs.write(h, data, 0)
  await fs.close(h)
  const out = join(tmp, 'after-flood')
  t.same(python({ cmd: 'read', path: '/u-flood', ios: [[0, 0, MiB]], region: MiB, out }).results, [[0, MiB]])
  t.ok(readFileSync(out).equals(data), 'the next client is served')
})

t.test('the Node API: batched reads and writes from this process agree with the FileClient', async (t) => {
  const io = await connectUsrbio({ socketPath })
  t.teardown(() => io.close())
  const region = await io.createRegion(8 * MiB)
  const ring = await io.createRing(16)
  const data = randomBytes(8 * MiB)
  region.bytes.set(data)
  const f = await io.open('/u-node', { write: true, create: true })
  for (let i = 0; i < 8; i++) ring.prepWrite(region, i * MiB, f, (7 - i) * MiB, MiB, i)
  ring.submit()
  const written = await ring.wait(8)
  t.same(written.map((c) => c.result), Array(8).fill(MiB))
  await io.closeFile(f)
  const back = await readAll('/u-node')
  for (let i = 0; i < 8; i++) t.ok(back.subarray((7 - i) * MiB, (8 - i) * MiB).equals(data.subarray(i * MiB, (i + 1) * MiB)), `block ${i}`)
  region.bytes.fill(0)
  const r = await io.open('/u-node')
  const pushedBefore = (await status()).pushedReads
  for (let i = 0; i < 16; i++) ring.prepRead(region, i * 512 * 1024, r, i * 512 * 1024, 512 * 1024, i)
  ring.submit()
  t.equal((await ring.wait(16)).length, 16)
  t.ok(Buffer.from(region.bytes).equals(back), 'the region holds the file')
  t.equal((await status()).pushedReads - pushedBefore, 16, 'a server-made region is registered with the node: replicas pushed every read straight into it')
  // A pushed read over the end of the file is short.
  region.bytes.fill(7)
  ring.prepRead(region, MiB, r, 7 * MiB + 512 * 1024, MiB, 50)
  ring.submit()
  t.same((await ring.wait(1)).map((c) => c.result), [512 * 1024])
  t.ok(Buffer.from(region.bytes.subarray(MiB, MiB + 512 * 1024)).equals(back.subarray(7 * MiB + 512 * 1024)), 'a short pushed read has the file\'s last bytes')
  // Memory made elsewhere (3FS's iovwrap): a /dev/shm file of this process, registered by name.
  const own = `t3fs-test-own-${process.pid}`
  createSharedFile(`/dev/shm/${own}`, 2 * MiB)
  t.teardown(() => removeSharedFile(`/dev/shm/${own}`))
  const ownBytes = new Uint8Array(mapSharedFile(`/dev/shm/${own}`))
  const reg = await io.registerRegion(own)
  t.equal(reg.sizeBytes, 2 * MiB)
  const pushedBeforeOwn = (await status()).pushedReads
  ring.prepRead({ id: reg.region, name: own, bytes: ownBytes }, 100, r, 3 * MiB, MiB, 99)
  ring.submit()
  t.same((await ring.wait(1)).map((c) => c.result), [MiB])
  t.ok(Buffer.from(ownBytes.subarray(100, 100 + MiB)).equals(back.subarray(3 * MiB, 4 * MiB)), 'a registered region of the client\'s own gets the bytes')
  t.equal((await status()).pushedReads, pushedBeforeOwn, 'a client\'s own file is never registered with the node (it could shrink it under a push): its reads are copied')
  await t.rejects(io.registerRegion('t3fs no spaces'), { code: 'ERR_USRBIO_NAME' })
  const more = []
  for (let i = 2; i < 64; i++) more.push(await io.createRegion(4096))
  await t.rejects(io.createRegion(4096), { code: 'ERR_USRBIO_LIMIT', message: /64 regions, the most the server allows \(max_regions\)/ })
})

const cc = spawnSync('cc', ['--version']).status === 0
t.test('a C process through t3fs_usrbio.h: batched reads and reverse-order writes agree with the FileClient', { skip: cc ? false : 'no C compiler (cc) on this machine' }, async (t) => {
  const exe = join(tmp, 'usrbio-c-driver')
  execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', exe, fileURLToPath(new URL('./usrbio-c-driver.c', import.meta.url))])
  const data = randomBytes(5 * MiB + 777)
  const h = await fs.create('/u-c')
  await fs.write(h, data, 0)
  await fs.close(h)
  const out = join(tmp, 'c-region')
  const r = JSON.parse(execFileSync(exe, [socketPath, '/u-c', String(data.length), out, '/u-c-copy'], { encoding: 'utf8', timeout: 120_000 })) as Record<string, number | string>
  t.match(r, { reads: 6, bytes: data.length, writes: 21, written: data.length, failed: 0 })
  t.ok(readFileSync(out).equals(data), 'the region holds the file')
  t.ok((await readAll('/u-c-copy')).equals(data), 'the copy written from the region reads back byte for byte')
  t.equal(r.full, -11, 'a full ring is -EAGAIN')
  t.equal(r.range, -34, 'an I/O outside the region is -ERANGE')
  t.equal(r.missing, -2, 'a missing file is -ENOENT')
  t.match(String(r.missingError), /^ENOENT/)
})
