import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { alignedBuffer, nativeAvailable, uring } from '../../../native/index.ts'
import { allocateBufferPool, BufferPool, type PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { DiskFile } from '../../../runtime/disk/disk.ts'
import { fixedLocation } from '../../../runtime/disk/uring-buffers.ts'
import { UringDisk } from '../../../runtime/disk/uring-disk.ts'
import { startWorker } from '../../../runtime/node-runtime.ts'
import { expectCode } from '../../native/expect-code.ts'

const skip = nativeAvailable() ? false : 'the native addon is not built (npm run build:native): UringDisk needs io_uring'
if (skip) console.log(`# skipping UringDisk tests: ${skip}`)

const KiB = 1024
const MiB = 1024 * KiB
const dir = mkdtempSync(join(tmpdir(), 't3fs-uring-disk-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const pool = skip ? null : new BufferPool(allocateBufferPool({ classes: [{ slotBytes: 64 * KiB, slots: 16 }, { slotBytes: MiB, slots: 40 }] }))
let counter = 0
/** A fresh disk root for one test, opened with the pool registered. */
async function freshDisk(): Promise<{ disk: UringDisk; root: string }> {
  const root = join(dir, `disk-${++counter}`)
  const disk = await UringDisk.open({ root, create: true, pool: pool! })
  return { disk, root }
}
function take(length: number): PooledBuffer {
  const buffer = pool!.tryAllocate(length)
  if (buffer === null) throw new Error('test pool exhausted')
  return buffer
}
/** The open(2) flags of the one fd of this process that points at `path` (from /proc/self/fdinfo). */
function fdFlags(path: string): number {
  for (const fd of readdirSync('/proc/self/fd')) {
    let target = ''
    try { target = readlinkSync(`/proc/self/fd/${fd}`) } catch { continue }
    if (target === path) return parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))![1], 8)
  }
  throw new Error(`no open fd for ${path}`)
}

t.test('opening a disk: root validation, alignment, name', { skip }, async (t) => {
  await expectCode(t, () => UringDisk.open({ root: 'relative/dir' }), 'ERR_INVALID_OPTION', 'a relative root')
  await expectCode(t, () => UringDisk.open({ root: dir, pool: 42 as unknown as BufferPool }), 'ERR_INVALID_OPTION', 'a pool that is not one')
  await expectCode(t, () => UringDisk.open({ root: join(dir, 'missing') }), 'ENOENT', 'a missing root without create')
  writeFileSync(join(dir, 'a-file'), 'x')
  await expectCode(t, () => UringDisk.open({ root: join(dir, 'a-file') }), 'ENOTDIR', 'a root that is a file')
  const { disk, root } = await freshDisk()
  t.equal(disk.name, root)
  const a = disk.alignment
  t.ok(a >= 512 && a <= 64 * KiB && (a & (a - 1)) === 0, `alignment ${a} is a power of two from 512 to 64 KiB`)
  t.same(await disk.list(''), [], 'the alignment probe leaves nothing behind (O_TMPFILE)')
  await disk.close()
})

t.test('buffered reads and writes of plain bytes, short only at the end of the file', { skip }, async (t) => {
  const { disk, root } = await freshDisk()
  const file = await disk.open('plain.dat', { create: true })
  t.equal(file.path, 'plain.dat')
  t.equal(file.direct, false)
  const data = randomBytes(10_001)
  t.equal(await file.write(data, 3), data.length, 'the whole buffer by default')
  t.equal(await file.write(data, 3 + data.length, 100, 50), 100, 'a length and buffer offset')
  const disk1 = readFileSync(join(root, 'plain.dat'))
  t.ok(disk1.subarray(3, 3 + data.length).equals(data) && disk1.subarray(3 + data.length).equals(data.subarray(50, 150)), 'bytes landed where asked')
  const back = new Uint8Array(data.length + 7)
  t.equal(await file.read(back, 3, data.length, 7), data.length)
  t.ok(Buffer.from(back.subarray(7)).equals(data))
  t.equal(await file.read(new Uint8Array(500), disk1.length - 100), 100, 'short at the end of the file')
  t.equal(await file.read(new Uint8Array(16), disk1.length + 10), 0, 'nothing past the end')
  await expectCode(t, () => file.read(back, -1), 'ERR_INVALID_OPTION', 'a negative position')
  await expectCode(t, () => file.read(back, 0, back.length + 1), 'ERR_INVALID_OPTION', 'a length past the buffer')
  await expectCode(t, () => file.write(back, 0, 1, back.length + 1), 'ERR_INVALID_OPTION', 'a buffer offset past the buffer')
  await file.close()
  const readOnly = await disk.open('plain.dat')
  await expectCode(t, () => readOnly.write(data, 0), 'EBADF', 'writing a file opened read-only')
  await readOnly.close()
  await disk.close()
})

t.test('open: ENOENT, EEXIST with exclusive, truncate, flag validation, O_DSYNC and O_DIRECT', { skip }, async (t) => {
  const { disk, root } = await freshDisk()
  const e = await expectCode(t, () => disk.open('nope/x'), 'ENOENT', 'a missing file')
  t.match(e?.message ?? '', /^ENOENT: open "nope\/x" on disk .*: No such file or directory$/, 'the message names the op, the disk path and the disk')
  t.equal(e?.details.path, 'nope/x')
  const f = await disk.open('x', { create: true, exclusive: true })
  await f.write(Buffer.from('hello'), 0)
  await f.close()
  await expectCode(t, () => disk.open('x', { create: true, exclusive: true }), 'EEXIST', 'exclusive create of an existing file')
  const again = await disk.open('x', { create: true })
  t.equal((await again.stat()).sizeBytes, 5, 'create without exclusive opens the existing file')
  await again.close()
  const cut = await disk.open('x', { truncate: true })
  t.equal((await cut.stat()).sizeBytes, 0, 'truncate cuts to 0 bytes')
  await cut.close()
  await expectCode(t, () => disk.open('x', { write: 'yes' as unknown as boolean }), 'ERR_INVALID_OPTION', 'a non-boolean flag')
  await expectCode(t, () => disk.open('', { write: true }), 'EISDIR', 'opening the root for writing')

  const dsync = await disk.open('dsync.dat', { create: true, dsync: true })
  t.ok((fdFlags(join(root, 'dsync.dat')) & 0o10000) !== 0, 'the fd carries O_DSYNC')
  t.equal(await dsync.write(Buffer.alloc(8192, 1), 0), 8192, 'a dsync write completes')
  t.equal(readFileSync(join(root, 'dsync.dat')).length, 8192)
  await dsync.close()
  const direct = await disk.open('direct.dat', { create: true, direct: true })
  t.ok((fdFlags(join(root, 'direct.dat')) & 0o40000) !== 0, 'the fd carries O_DIRECT')
  t.equal(direct.direct, true)
  await direct.close()
  await disk.close()
})

t.test('paths: "..", absolute, empty segments and NUL are refused by every operation', { skip }, async (t) => {
  const { disk } = await freshDisk()
  const bad = ['..', 'a/../b', '/etc/passwd', 'a//b', 'a/', '/', '.', 'a/./b', 'a\0b']
  const ops: Array<[string, (p: string) => Promise<unknown>]> = [
    ['open', (p) => disk.open(p)], ['mkdir', (p) => disk.mkdir(p, { recursive: true })], ['list', (p) => disk.list(p)],
    ['stat', (p) => disk.stat(p)], ['rename from', (p) => disk.rename(p, 'ok')], ['rename to', (p) => disk.rename('ok', p)],
    ['unlink', (p) => disk.unlink(p)], ['rmdir', (p) => disk.rmdir(p)], ['syncDir', (p) => disk.syncDir(p)],
  ]
  for (const [name, op] of ops) {
    for (const path of bad) await expectCode(t, () => op(path), 'ERR_INVALID_PATH', `${name} ${JSON.stringify(path)}`)
  }
  await expectCode(t, () => disk.open('x'.repeat(5000)), 'ERR_INVALID_PATH', 'a path over 4096 bytes')
  const outside = join(dir, 'outside.txt')
  writeFileSync(outside, 'secret')
  symlinkSync(outside, join(disk.root, 'link-out'))
  symlinkSync('../outside.txt', join(disk.root, 'link-up'))
  await expectCode(t, () => disk.open('link-out'), 'EXDEV', 'an absolute symlink out of the root is not followed')
  await expectCode(t, () => disk.open('link-up'), 'EXDEV', 'a relative symlink out of the root is not followed')
  t.equal((await disk.stat('link-out')).kind, 'other', 'stat reports the link itself')
  await disk.close()
})

t.test('O_DIRECT through registered pool buffers: 16 writes and 16 reads in flight at once', { skip }, async (t) => {
  const { disk, root } = await freshDisk()
  const file = await disk.open('direct.dat', { create: true, direct: true })
  const out = Array.from({ length: 16 }, () => take(MiB))
  const back = Array.from({ length: 16 }, () => take(MiB))
  t.ok(out.every((b) => fixedLocation(b.bytes) !== null), 'pool slots are registered with the ring (READ/WRITE_FIXED)')
  t.equal(fixedLocation(new Uint8Array(4096)), null, 'plain memory is not')
  for (const buffer of out) buffer.bytes.set(randomBytes(MiB))
  const inFlightBefore = uring().stats().inFlight
  const writes = out.map((buffer, i) => file.write(buffer, i * MiB))
  t.equal(uring().stats().inFlight - inFlightBefore, 16, '16 writes in flight')
  t.same(await Promise.all(writes), Array(16).fill(MiB))
  await file.sync({ dataOnly: true })
  const reads = back.map((buffer, i) => file.read(buffer, (15 - i) * MiB))
  t.equal(uring().stats().inFlight - inFlightBefore, 16, '16 reads in flight')
  t.same(await Promise.all(reads), Array(16).fill(MiB))
  t.ok(back.every((buffer, i) => Buffer.from(buffer.bytes).equals(Buffer.from(out[15 - i].bytes))), 'every block read back equals what was written')
  const onDisk = readFileSync(join(root, 'direct.dat'))
  t.ok(out.every((buffer, i) => onDisk.subarray(i * MiB, (i + 1) * MiB).equals(Buffer.from(buffer.bytes))), 'and so does the file')

  // Part of a slot, at an aligned buffer offset; and a small-class slot.
  const small = take(64 * KiB)
  t.equal(await file.read(small, 3 * MiB, 32 * KiB, 16 * KiB), 32 * KiB)
  t.ok(Buffer.from(small.bytes.subarray(16 * KiB, 48 * KiB)).equals(onDisk.subarray(3 * MiB, 3 * MiB + 32 * KiB)))
  // A direct read past the end stops at the end of the file.
  t.equal(await file.read(back[0], 15 * MiB + 512 * KiB), 512 * KiB, 'short only at the end of the file')
  // Plain aligned memory goes through the unregistered path.
  const plain = alignedBuffer(64 * KiB)
  t.equal(await file.read(plain, MiB), 64 * KiB)
  t.ok(Buffer.from(plain).equals(onDisk.subarray(MiB, MiB + 64 * KiB)))
  for (const buffer of [...out, ...back, small]) buffer.release()
  await file.close()
  await disk.close()
})

t.test('misaligned direct I/O is EINVAL (checked before the kernel, and by it)', { skip }, async (t) => {
  const { disk } = await freshDisk()
  const file = await disk.open('d.dat', { create: true, direct: true })
  const buffer = take(64 * KiB)
  const a = disk.alignment
  const e = await expectCode(t, () => file.write(buffer, 100, a), 'EINVAL', 'a misaligned position')
  t.match(e?.message ?? '', new RegExp(`^EINVAL: direct write of ${a} bytes at position 100 \\(buffer offset 0\\) is not aligned to ${a} bytes$`))
  await expectCode(t, () => file.write(buffer, 0, 100), 'EINVAL', 'a misaligned length')
  await expectCode(t, () => file.read(buffer, 0, a, 1), 'EINVAL', 'a misaligned buffer offset')
  // An address the kernel refuses although every number is aligned: a view starting one byte in.
  // (Here the kernel lets a 512-byte transfer within one page pass; a 4 KiB one it refuses.)
  const skewed = alignedBuffer(2 * Math.max(4096, a) + 1).subarray(1)
  await expectCode(t, () => file.write(skewed, 0, Math.max(4096, a)), 'EINVAL', 'a misaligned buffer address (the kernel says so)')
  buffer.release()
  await file.close()
  await disk.close()
})

t.test('closed files and disks: EBADF; closing twice is harmless', { skip }, async (t) => {
  const { disk } = await freshDisk()
  const file = await disk.open('c.dat', { create: true })
  await Promise.all([file.close(), file.close()])
  await file.close()
  const buf = new Uint8Array(16)
  const ops: Array<[string, (f: DiskFile) => Promise<unknown>]> = [
    ['read', (f) => f.read(buf, 0)], ['write', (f) => f.write(buf, 0)], ['sync', (f) => f.sync()],
    ['allocate', (f) => f.allocate(0, 4096)], ['punchHole', (f) => f.punchHole(0, 4096)], ['truncate', (f) => f.truncate(0)],
    ['stat', (f) => f.stat()],
  ]
  for (const [name, op] of ops) await expectCode(t, () => op(file), 'EBADF', `file.${name} after close`)
  const open = await disk.open('c.dat')
  // Checked from the start: the racing open may reject while close() is still waiting for it.
  const racing = expectCode(t, () => disk.open('c.dat'), 'EBADF', 'an open that was in flight when the disk closed')
  await disk.close()
  await racing
  await disk.close()
  await expectCode(t, () => open.read(buf, 0), 'EBADF', 'a file left open is closed with its disk')
  await expectCode(t, () => disk.open('c.dat'), 'EBADF', 'disk.open after close')
  await expectCode(t, () => disk.stat(''), 'EBADF', 'disk.stat after close')
  await expectCode(t, () => disk.mkdir('z'), 'EBADF', 'disk.mkdir after close')
  await expectCode(t, () => disk.capacity(), 'EBADF', 'disk.capacity after close')
})

t.test('closing waits for the operations under way (their fd must not be reused under them)', { skip }, async (t) => {
  const { disk } = await freshDisk()
  const file = await disk.open('busy.dat', { create: true, direct: true })
  const buffers = Array.from({ length: 8 }, () => take(MiB))
  buffers.forEach((b, i) => b.bytes.fill(i + 1))
  const writes = buffers.map((b, i) => file.write(b, i * MiB))
  const closed = file.close()
  t.same(await Promise.all(writes), Array(8).fill(MiB), 'writes started before close complete')
  await closed
  const stats = [disk.stat('busy.dat'), disk.stat('')]
  const diskClosed = disk.close()
  t.same((await Promise.all(stats)).map((s) => s.kind), ['file', 'directory'], 'disk operations started before close complete')
  await diskClosed
  const onDisk = readFileSync(join(disk.root, 'busy.dat'))
  t.ok(buffers.every((b, i) => onDisk[i * MiB] === i + 1 && onDisk[(i + 1) * MiB - 1] === i + 1), 'and their data is in the file')
  for (const b of buffers) b.release()
})

t.test('allocate grows the allocation, keepSize keeps the size; punchHole frees blocks that then read as zeros; truncate', { skip }, async (t) => {
  const { disk } = await freshDisk()
  const file = await disk.open('space.dat', { create: true })
  await file.allocate(0, 2 * MiB)
  let st = await file.stat()
  t.equal(st.sizeBytes, 2 * MiB, 'allocate grows the file')
  t.ok(st.allocatedBytes >= 2 * MiB, `and its allocation (${st.allocatedBytes})`)
  await file.allocate(2 * MiB, 2 * MiB, { keepSize: true })
  st = await file.stat()
  t.equal(st.sizeBytes, 2 * MiB, 'keepSize keeps the size')
  t.ok(st.allocatedBytes >= 4 * MiB, `but allocates past it (${st.allocatedBytes})`)
  const data = randomBytes(2 * MiB)
  await file.write(data, 0)
  await file.sync()
  const before = (await file.stat()).allocatedBytes
  await file.punchHole(512 * KiB, MiB)
  st = await file.stat()
  t.equal(st.sizeBytes, 2 * MiB, 'a punched hole keeps the size')
  t.ok(st.allocatedBytes <= before - MiB, `punchHole frees the blocks (${before} -> ${st.allocatedBytes})`)
  const back = new Uint8Array(2 * MiB)
  await file.read(back, 0)
  t.ok(back.subarray(512 * KiB, 1536 * KiB).every((b) => b === 0), 'the hole reads as zeros')
  t.ok(Buffer.from(back.subarray(0, 512 * KiB)).equals(data.subarray(0, 512 * KiB)) &&
    Buffer.from(back.subarray(1536 * KiB)).equals(data.subarray(1536 * KiB)), 'the data around it is intact')
  await file.truncate(100)
  t.equal((await file.stat()).sizeBytes, 100, 'truncate shrinks')
  await file.truncate(MiB)
  st = await file.stat()
  t.equal(st.sizeBytes, MiB, 'and grows')
  t.equal(await file.read(back, 0, MiB), MiB)
  t.ok(Buffer.from(back.subarray(0, 100)).equals(data.subarray(0, 100)) && back.subarray(100, MiB).every((b) => b === 0), 'grown bytes read as zeros')
  await expectCode(t, () => file.allocate(0, 0), 'ERR_INVALID_OPTION', 'an empty range')
  await expectCode(t, () => file.punchHole(-1, 10), 'ERR_INVALID_OPTION', 'a negative position')
  await expectCode(t, () => file.truncate(1.5), 'ERR_INVALID_OPTION', 'a fractional length')
  await file.close()
  await disk.close()
})

t.test('rename replaces the target atomically: a reader sees the old or the new file, never none', { skip }, async (t) => {
  const { disk } = await freshDisk()
  const put = async (path: string, text: string): Promise<void> => {
    const f = await disk.open(path, { create: true, truncate: true })
    await f.write(Buffer.from(text), 0)
    await f.close()
  }
  await put('target', 'v0')
  const rounds = 40
  let missing = 0
  const seen = new Set<string>()
  const reader = (async () => {
    for (let i = 0; i < rounds * 2; i++) {
      try {
        const f = await disk.open('target')
        const b = new Uint8Array(8)
        seen.add(Buffer.from(b.subarray(0, await f.read(b, 0))).toString())
        await f.close()
      } catch (error) {
        if ((error as { code?: string }).code === 'ENOENT') missing++
        else throw error
      }
    }
  })()
  for (let i = 1; i <= rounds; i++) {
    await put('next', `v${i}`)
    await disk.rename('next', 'target')
  }
  await reader
  t.equal(missing, 0, 'the target never went missing')
  t.ok([...seen].every((v) => /^v\d+$/.test(v)), `readers saw only whole versions (${seen.size} distinct)`)
  const f = await disk.open('target')
  const b = new Uint8Array(8)
  t.equal(Buffer.from(b.subarray(0, await f.read(b, 0))).toString(), `v${rounds}`)
  await f.close()
  await expectCode(t, () => disk.stat('next'), 'ENOENT', 'the source name is gone')
  await expectCode(t, () => disk.rename('nope', 'target'), 'ENOENT', 'renaming a missing file')
  await disk.mkdir('d')
  await put('d/x', 'x')
  await expectCode(t, () => disk.rename('target', 'd'), 'EISDIR', 'a file cannot replace a directory')
  await disk.close()
})

t.test('mkdir, list (sorted, with kinds), stat, unlink, rmdir and their errors', { skip }, async (t) => {
  const { disk, root } = await freshDisk()
  await expectCode(t, () => disk.mkdir('n/m'), 'ENOENT', 'mkdir under a missing parent')
  await disk.mkdir('n/m/o', { recursive: true })
  await disk.mkdir('n/m/o', { recursive: true })
  t.equal((await disk.stat('n/m/o')).kind, 'directory', 'recursive mkdir makes every level and accepts an existing directory')
  await disk.rmdir('n/m/o')
  await disk.rmdir('n/m')
  await disk.rmdir('n')
  await disk.mkdir('a')
  await expectCode(t, () => disk.mkdir('a'), 'EEXIST', 'mkdir of an existing directory')
  for (const name of ['b', 'a-file', 'C', 'é']) writeFileSync(join(root, 'a', name), name)
  symlinkSync('b', join(root, 'a', 'link'))
  await expectCode(t, () => disk.mkdir('a/b', { recursive: true }), 'EEXIST', 'recursive mkdir onto a file')
  await expectCode(t, () => disk.mkdir('a/a-file/x', { recursive: true }), 'ENOTDIR', 'recursive mkdir through a file')
  t.same(await disk.list('a'), [
    { name: 'C', kind: 'file' }, { name: 'a-file', kind: 'file' }, { name: 'b', kind: 'file' }, { name: 'link', kind: 'other' },
    { name: 'é', kind: 'file' },
  ], 'sorted by name (code units), with kinds')
  t.same(await disk.list(''), [{ name: 'a', kind: 'directory' }], "'' lists the root")
  await expectCode(t, () => disk.list('zz'), 'ENOENT', 'listing a missing directory')
  await expectCode(t, () => disk.list('a/b'), 'ENOTDIR', 'listing a file')

  const st = await disk.stat('a/b')
  t.same({ kind: st.kind, sizeBytes: st.sizeBytes }, { kind: 'file', sizeBytes: 1 })
  t.ok(Math.abs(st.mtimeMs - Date.now()) < 10 * 60_000, 'mtime is a wall-clock time')
  t.equal((await disk.stat('')).kind, 'directory', "'' is the root")
  await expectCode(t, () => disk.stat('a/zz'), 'ENOENT', 'stat of a missing path')
  await expectCode(t, () => disk.stat('a/b/x'), 'ENOTDIR', 'stat through a file')

  await expectCode(t, () => disk.rmdir('a'), 'ENOTEMPTY', 'rmdir of a non-empty directory')
  await expectCode(t, () => disk.rmdir('a/b'), 'ENOTDIR', 'rmdir of a file')
  await expectCode(t, () => disk.unlink('a'), 'EISDIR', 'unlink of a directory')
  await expectCode(t, () => disk.unlink('a/zz'), 'ENOENT', 'unlink of a missing file')
  for (const entry of await disk.list('a')) await disk.unlink(`a/${entry.name}`)
  await disk.rmdir('a')
  t.same(await disk.list(''), [], 'everything removed')
  await disk.close()
})

t.test('syncDir and capacity', { skip }, async (t) => {
  const { disk, root } = await freshDisk()
  await disk.mkdir('d')
  await disk.syncDir('')
  await disk.syncDir('d')
  t.pass('the root and a subdirectory sync')
  writeFileSync(join(root, 'f'), 'x')
  await expectCode(t, () => disk.syncDir('f'), 'ENOTDIR', 'syncDir of a file')
  await expectCode(t, () => disk.syncDir('nope'), 'ENOENT', 'syncDir of a missing directory')
  const capacity = await disk.capacity()
  const fs = statfsSync(root)
  t.equal(capacity.totalBytes, fs.blocks * fs.bsize, 'total is the file system size')
  t.ok(capacity.freeBytes > 0 && capacity.freeBytes <= capacity.totalBytes, `free ${capacity.freeBytes} of ${capacity.totalBytes}`)
  await disk.close()
})

t.test('a worker thread does O_DIRECT through its own ring with the shared pool registered there', { skip, timeout: 60_000 }, async (t) => {
  const root = join(dir, 'worker-disk')
  mkdirSync(root)
  const blocks = 4
  const blockBytes = MiB
  const worker = startWorker(new URL('./fixtures/uring-disk-worker.ts', import.meta.url), { root, memory: pool!.memory, blocks, blockBytes })
  const reply = await new Promise<{ read: number[]; matches: boolean; fixed: boolean; ringFd: number; backSlots: Array<{ sizeClass: number; slot: number }> }>(
    (resolve, reject) => { worker.once('message', resolve); worker.once('error', reject) })
  t.same(reply.read, Array(blocks).fill(blockBytes), 'the worker read every block whole')
  t.ok(reply.matches, 'and found what it wrote')
  t.ok(reply.fixed, "the pool is registered with the worker's ring")
  t.not(reply.ringFd, uring().stats().ringFd, 'a ring of its own')
  const onDisk = readFileSync(join(root, 'from-worker.dat'))
  t.equal(onDisk.length, blocks * blockBytes)
  for (let i = 0; i < blocks; i++) {
    t.ok(onDisk.subarray(i * blockBytes, (i + 1) * blockBytes).every((b) => b === 0x40 + i), `block ${i} on disk`)
    const { sizeClass, slot } = reply.backSlots[i]
    const shared = pool!.view(sizeClass, slot, blockBytes)
    t.ok(shared.bytes.every((b) => b === 0x40 + i), `block ${i} in the shared slot, seen from this thread`)
    shared.release()
  }
  t.equal(await new Promise<number>((resolve) => worker.once('exit', resolve)), 0, 'the worker exits on its own')
})
