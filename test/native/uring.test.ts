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
  const before = ring.stats().registeredBuffers
  const ia = ring.registerBuffer(a)
  const ib = ring.registerBuffer(b)
  t.not(ia, ib, 'each buffer gets its own entry')
  t.equal(ring.stats().registeredBuffers, before + 2)
  const fd = await ring.open(join(dir, 'fixed.dat'), { write: true, create: true, truncate: true, direct: true })
  t.equal(await ring.writeFixed(fd, ia, 0, 128 * 1024, 0), 128 * 1024)
  t.equal(await ring.writeFixed(fd, ia, 128 * 1024, 128 * 1024, 128 * 1024), 128 * 1024)
  const pending = ring.readFixed(fd, ib, 128 * 1024, 128 * 1024, 128 * 1024)
  await expectCode(t, () => ring.unregisterBuffer(ib), 'ERR_URING_BUSY', 'unregistering a buffer a fixed read is using')
  const [r1, r2] = await Promise.all([pending, ring.readFixed(fd, ib, 0, 128 * 1024, 0)])
  t.equal(r1 + r2, 256 * 1024)
  t.ok(Buffer.from(b).equals(Buffer.from(a)))
  await expectCode(t, () => ring.readFixed(fd, 1023, 0, 4096), 'ERR_INVALID_ARG', 'an unregistered buffer index')
  await expectCode(t, () => ring.readFixed(fd, ia, 0, 4096, 256 * 1024), 'ERR_INVALID_ARG', 'beyond a registered buffer')
  ring.unregisterBuffer(ia)
  await expectCode(t, () => ring.readFixed(fd, ia, 0, 4096), 'ERR_INVALID_ARG', 'an entry that was unregistered')
  t.equal(await ring.readFixed(fd, ib, 0, 4096), 4096, 'the other entry is untouched')
  ring.unregisterBuffer(ib)
  t.equal(ring.stats().registeredBuffers, before, 'unregistered')
  t.equal(ring.registerBuffer(b), ia, 'a freed entry is reused')
  ring.unregisterBuffer(ia)
  await expectCode(t, () => ring.unregisterBuffer(ia), 'ERR_INVALID_ARG', 'unregistering twice')
  await expectCode(t, () => ring.registerBuffer(new Uint8Array(0)), 'ERR_INVALID_ARG', 'an empty buffer')
  await ring.close(fd)
})

t.test('file-system operations: fallocate, ftruncate, statx, mkdirat, renameat, unlinkat', async (t) => {
  const root = await ring.open(dir, { directory: true })
  await ring.mkdir('fs', { dirFd: root })
  await expectCode(t, () => ring.mkdir('fs', { dirFd: root }), 'EEXIST', 'mkdir of an existing directory')
  const fd = await ring.open('fs/a', { dirFd: root, write: true, create: true, exclusive: true, dsync: true })
  await expectCode(t, () => ring.open('fs/a', { dirFd: root, write: true, create: true, exclusive: true }), 'EEXIST', 'O_EXCL on an existing file')
  await ring.fallocate(fd, 0, 1 << 20)
  let st = await ring.fstat(fd, { dioAlign: true })
  t.equal(st.kind, 'file')
  t.equal(st.sizeBytes, 1 << 20, 'plain fallocate grows the file')
  t.ok(st.allocatedBytes >= 1 << 20, `and allocates it (${st.allocatedBytes} bytes)`)
  t.ok(st.dioOffsetAlign === null || (st.dioOffsetAlign > 0 && (st.dioOffsetAlign & (st.dioOffsetAlign - 1)) === 0),
    `DIOALIGN offset alignment ${String(st.dioOffsetAlign)}, memory ${String(st.dioMemAlign)}`)
  await ring.fallocate(fd, 1 << 20, 1 << 20, { keepSize: true })
  st = await ring.fstat(fd)
  t.equal(st.sizeBytes, 1 << 20, 'KEEP_SIZE keeps the size')
  t.ok(st.allocatedBytes >= 2 << 20, 'but allocates beyond it')
  await ring.write(fd, Buffer.alloc(1 << 20, 9), 0)
  await ring.fallocate(fd, 0, 512 * 1024, { punchHole: true })
  const afterPunch = await ring.fstat(fd)
  t.ok(afterPunch.allocatedBytes <= st.allocatedBytes - 512 * 1024, 'PUNCH_HOLE frees the blocks')
  const back = Buffer.alloc(8)
  await ring.read(fd, back, 4096)
  t.same([...back], Array(8).fill(0), 'a punched range reads as zeros')
  await ring.truncate(fd, 12345)
  t.equal((await ring.fstat(fd)).sizeBytes, 12345, 'ftruncate')
  await ring.close(fd)

  const byPath = await ring.statx('fs', { dirFd: root })
  t.equal(byPath.kind, 'directory')
  t.ok(Math.abs(byPath.mtimeMs - Date.now()) < 60_000, 'mtime is a plausible wall-clock time')
  writeFileSync(join(dir, 'fs', 'b'), 'bee')
  await ring.rename('fs/b', 'fs/a', { dirFd: root })
  t.equal(readFileSync(join(dir, 'fs', 'a'), 'utf8'), 'bee', 'rename replaces the target')
  await expectCode(t, () => ring.statx('fs/b', { dirFd: root }), 'ENOENT', 'the source is gone')
  await expectCode(t, () => ring.unlink('fs', { dirFd: root, directory: true }), 'ENOTEMPTY', 'rmdir of a non-empty directory')
  await expectCode(t, () => ring.unlink('fs', { dirFd: root }), 'EISDIR', 'unlink of a directory')
  await ring.unlink('fs/a', { dirFd: root })
  await ring.unlink('fs', { dirFd: root, directory: true })
  const e = await expectCode(t, () => ring.unlink('fs', { dirFd: root, directory: true }), 'ENOENT', 'rmdir of a missing directory')
  t.match(e?.message ?? '', /ENOENT: rmdir fs: No such file or directory/)
  await expectCode(t, () => ring.open('../x', { dirFd: root, beneath: true }), 'EXDEV', 'RESOLVE_BENEATH refuses to leave the directory')
  await ring.fsync(root)
  await ring.close(root)
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
