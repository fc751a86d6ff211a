import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { alignedBuffer, uring } from '../../native/index.ts'
import { expectCode } from './expect-code.ts'

const dir = mkdtempSync(join(tmpdir(), 't3fs-uring-test-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const ring = uring()

t.test('O_DIRECT: a batch of writes then reads returns the same bytes', async (t) => {
  const blockBytes = 64 * 1024
  const blocks = 16
  const data = alignedBuffer(blockBytes * blocks)
  data.set(randomBytes(data.length))
  const fd = await ring.open(join(dir, 'direct.dat'), { write: true, create: true, truncate: true, direct: true })
  const writes = []
  for (let i = 0; i < blocks; i++) writes.push(ring.write(fd, data, i * blockBytes, blockBytes, i * blockBytes))
  t.equal(ring.stats().queued, blocks, 'operations of one JS turn wait for one submission')
  t.same(await Promise.all(writes), Array(blocks).fill(blockBytes))
  t.equal(ring.stats().queued, 0)
  await ring.fsync(fd)
  const back = alignedBuffer(data.length)
  const reads = []
  for (let i = blocks - 1; i >= 0; i--) reads.push(ring.read(fd, back, i * blockBytes, blockBytes, i * blockBytes))
  t.same(await Promise.all(reads), Array(blocks).fill(blockBytes))
  t.ok(Buffer.from(back).equals(Buffer.from(data)), 'read back equals written')
  t.ok(readFileSync(join(dir, 'direct.dat')).equals(Buffer.from(data)), 'and so does the page-cache view')
  await ring.close(fd)
})

t.test('buffered mode: unaligned offsets, Buffers and SharedArrayBuffer views', async (t) => {
  const path = join(dir, 'buffered.dat')
  const fd = await ring.open(path, { write: true, create: true, truncate: true })
  const a = randomBytes(10_001)
  const shared = new Uint8Array(new SharedArrayBuffer(777))
  shared.set(randomBytes(777))
  const [n1, n2] = await Promise.all([ring.write(fd, a, 3), ring.write(fd, shared, 3 + a.length)])
  t.equal(n1, a.length)
  t.equal(n2, shared.length)
  await ring.fsync(fd, { datasync: true })
  const whole = readFileSync(path)
  t.equal(whole.length, 3 + a.length + shared.length)
  t.ok(whole.subarray(3, 3 + a.length).equals(a))
  t.ok(whole.subarray(3 + a.length).equals(Buffer.from(shared)))
  const back = new Uint8Array(new SharedArrayBuffer(a.length + 10))
  t.equal(await ring.read(fd, back, 3, a.length, 10), a.length, 'read into an offset of a SAB view')
  t.ok(Buffer.from(back.subarray(10)).equals(a))
  t.equal(await ring.read(fd, Buffer.alloc(100), whole.length - 40), 40, 'a short read at end of file')
  t.equal(await ring.read(fd, Buffer.alloc(100), whole.length + 5), 0, 'reading past the end returns 0')
  t.equal(await ring.read(fd, Buffer.alloc(8), 2n ** 40n), 0, 'bigint positions are accepted')
  await ring.close(fd)
})

t.test('registered buffers: writeFixed/readFixed round trip under O_DIRECT', async (t) => {
  const a = alignedBuffer(256 * 1024)
  const b = alignedBuffer(256 * 1024)
  a.set(randomBytes(a.length))
  ring.registerBuffers([a, b])
  t.equal(ring.stats().registeredBuffers, 2)
  const fd = await ring.open(join(dir, 'fixed.dat'), { write: true, create: true, truncate: true, direct: true })
  t.equal(await ring.writeFixed(fd, 0, 0, 128 * 1024, 0), 128 * 1024)
  t.equal(await ring.writeFixed(fd, 0, 128 * 1024, 128 * 1024, 128 * 1024), 128 * 1024)
  const [r1, r2] = await Promise.all([ring.readFixed(fd, 1, 128 * 1024, 128 * 1024, 128 * 1024), ring.readFixed(fd, 1, 0, 128 * 1024, 0)])
  t.equal(r1 + r2, 256 * 1024)
  t.ok(Buffer.from(b).equals(Buffer.from(a)))
  await expectCode(t, () => ring.readFixed(fd, 2, 0, 4096), 'ERR_INVALID_ARG', 'an unregistered buffer index')
  await expectCode(t, () => ring.readFixed(fd, 0, 0, 4096, 256 * 1024), 'ERR_INVALID_ARG', 'beyond a registered buffer')
  ring.registerBuffers([])
  t.equal(ring.stats().registeredBuffers, 0, 'unregistered')
  await ring.close(fd)
})

t.test('error paths are T3fsErrors coded with the errno name', async (t) => {
  const path = join(dir, 'errors.dat')
  writeFileSync(path, Buffer.alloc(65536, 1))
  const fd = await ring.open(path, { direct: true })
  const aligned = alignedBuffer(8192)
  const e1 = await expectCode(t, () => ring.read(fd, aligned, 1, 4096), 'EINVAL', 'O_DIRECT read at a misaligned offset')
  t.same(e1?.details, { errno: 22, syscall: 'read' })
  await expectCode(t, () => ring.read(fd, aligned, 0, 4096, 1), 'EINVAL', 'O_DIRECT read into a misaligned buffer')
  await expectCode(t, () => ring.read(fd, aligned, 0, 100), 'EINVAL', 'O_DIRECT read of a misaligned length')
  await ring.close(fd)

  const full = await ring.open('/dev/full', { write: true })
  const e2 = await expectCode(t, () => ring.write(full, Buffer.alloc(4096), 0), 'ENOSPC', 'write to a full device')
  t.equal(e2?.details.syscall, 'write')
  await ring.close(full)

  const e3 = await expectCode(t, () => ring.open(join(dir, 'missing', 'x')), 'ENOENT', 'open of a missing file')
  t.equal(e3?.details.path, join(dir, 'missing', 'x'), 'the path is in the details')
  t.match(e3?.message ?? '', /ENOENT: open .*missing\/x: No such file or directory/)
  await expectCode(t, () => ring.open(dir, { write: true }), 'EISDIR', 'opening a directory for writing')
  await expectCode(t, () => ring.read(1_000_000, Buffer.alloc(16), 0), 'EBADF', 'a closed fd')
  await expectCode(t, () => ring.read(0, Buffer.alloc(16), 0, 17), 'ERR_INVALID_ARG', 'length beyond the buffer')
  await expectCode(t, () => ring.read(0, Buffer.alloc(16), -1), 'ERR_INVALID_ARG', 'a negative position')
  await expectCode(t, () => ring.read(0, 'x' as unknown as Uint8Array, 0), 'ERR_INVALID_ARG', 'a string buffer')
  // EIO is exercised through a FUSE file whose READ fails (fuse.test.ts).
  t.equal(ring.stats().inFlight, 0, 'nothing left in flight')
})

t.test('each worker thread gets its own ring', async (t) => {
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const addon = require(workerData.path);
     const p = addon.uringNop();
     addon.uringSubmit();
     p.then((res) => parentPort.postMessage({ res, ringFd: addon.uringStats().ringFd }));`,
    { eval: true, workerData: { path: new URL('../../native/t3fs_native.node', import.meta.url).pathname } },
  )
  const reply = await new Promise<{ res: number; ringFd: number }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  t.equal(reply.res, 0, 'a NOP completed in the worker')
  t.ok(reply.ringFd >= 0)
  t.not(reply.ringFd, ring.stats().ringFd, 'a different ring than the main thread')
  const code = await new Promise<number>((resolve) => worker.once('exit', resolve))
  t.equal(code, 0, 'the worker exits on its own: an idle ring does not hold the event loop')
})

t.test('the event loop keeps running while I/O is in flight', async (t) => {
  const path = join(dir, 'big.dat')
  const chunk = alignedBuffer(8 * 1024 * 1024)
  chunk.fill(7)
  const fd = await ring.open(path, { write: true, create: true, truncate: true, direct: true })
  await Promise.all([0, 1, 2, 3].map((i) => ring.write(fd, chunk, i * chunk.length)))
  let ticks = 0
  let done = false
  const spin = (): void => { if (!done) { ticks++; setImmediate(spin) } }
  setImmediate(spin)
  const reads = [0, 1, 2, 3].map((i) => ring.read(fd, chunk, i * chunk.length))
  t.equal(ring.stats().inFlight, 4)
  await Promise.all(reads)
  done = true
  t.ok(ticks > 0, `setImmediate ran ${ticks} times while 32 MiB of O_DIRECT reads were in flight`)
  await ring.close(fd)
})

t.test('terminating a worker with O_DIRECT reads in flight waits for them, then exits', async (t) => {
  const path = join(dir, 'terminate.dat')
  writeFileSync(path, Buffer.alloc(16 * 1024 * 1024, 3))
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const a = require(workerData.addon);
     const whole = new Uint8Array(16 * 1024 * 1024 + 4096);
     const skip = (4096 - a.addressModulo(whole, 4096)) % 4096;
     const buf = whole.subarray(skip, skip + 16 * 1024 * 1024);
     const open = a.uringOpen(workerData.path, 0o40000, 0); a.uringSubmit();
     open.then((fd) => {
       for (let i = 0; i < 8; i++) a.uringRead(fd, buf, 0, buf.length, 0).catch(() => {});
       a.uringSubmit();
       parentPort.postMessage({ inFlight: a.uringStats().inFlight });
     });`,
    { eval: true, workerData: { addon: new URL('../../native/t3fs_native.node', import.meta.url).pathname, path } },
  )
  const started = await new Promise<{ inFlight: number }>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
  t.equal(started.inFlight, 8, '8 × 16 MiB O_DIRECT reads in flight')
  const code = await worker.terminate()
  t.equal(code, 1, 'terminated without a crash')
  t.equal(ring.stats().inFlight, 0, 'the main thread ring is unaffected')
})
