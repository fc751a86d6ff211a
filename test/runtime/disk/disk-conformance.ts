/**
 * The Disk conformance suite: the behaviour every Disk (UringDisk on a real filesystem, SimDisk in
 * the simulator) must share. A backend's test file calls `diskConformance(t, makeDisk)`; `makeDisk`
 * returns a fresh, empty disk for each subtest (a temp-dir-rooted disk: a new `t.testdir()`; it may
 * register its own teardown on the subtest it is given).
 *
 * Nothing here depends on one implementation: figures that a real filesystem rounds (allocated
 * bytes, free space) are checked as inequalities, and direct I/O uses pool slots, whose memory is
 * really aligned.
 */
import type { Test } from 'tap'
import { allocateBufferPool, BufferPool, type PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { Disk, DiskFile } from '../../../runtime/disk/disk.ts'
import { T3fsError } from '../../../runtime/errors.ts'

export type MakeDisk = (t: Test) => Disk | Promise<Disk>

type Tap = Pick<Test, 'ok' | 'fail'>

/** Compares bytes quickly (tap's deep equality is slow on large arrays) and names the first difference. */
export function sameBytes(t: Tap, actual: Uint8Array, expected: Uint8Array, what: string): void {
  let at = actual.length === expected.length ? -1 : Math.min(actual.length, expected.length)
  for (let i = 0; at === -1 && i < actual.length; i++) if (actual[i] !== expected[i]) at = i
  t.ok(at === -1, at === -1 ? what : `${what}: first difference at byte ${at} (lengths ${actual.length} and ${expected.length})`)
}

/** Asserts that `run` returns a promise rejecting with a T3fsError whose code is one of `codes`. */
export async function rejectsWith(t: Tap, run: () => Promise<unknown>, codes: string | readonly string[], what: string): Promise<void> {
  const accepted = typeof codes === 'string' ? [codes] : codes
  let promise: Promise<unknown>
  try {
    promise = run()
  } catch (error) {
    t.fail(`${what}: threw synchronously (${describeError(error)}) instead of returning a rejected promise`)
    return
  }
  try {
    await promise
    t.fail(`${what}: expected ${accepted.join(' or ')}, it succeeded`)
  } catch (error) {
    const ok = error instanceof T3fsError && accepted.includes(error.code)
    t.ok(ok, `${what}: ${accepted.join(' or ')} (got ${describeError(error)})`)
  }
}

function describeError(error: unknown): string {
  return error instanceof T3fsError ? error.code : String(error)
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const decode = (b: Uint8Array): string => new TextDecoder().decode(b)

/** A recognisable, position-dependent pattern (so misplaced bytes show). */
export function pattern(length: number, salt = 0): Uint8Array {
  const out = new Uint8Array(length)
  for (let i = 0; i < length; i++) out[i] = (i * 31 + salt * 7 + (i >>> 8)) & 0xff
  return out
}

async function readAll(file: DiskFile, position: number, length: number): Promise<Uint8Array> {
  const into = new Uint8Array(length)
  const n = await file.read(into, position)
  return into.subarray(0, n)
}

async function writeFile(disk: Disk, path: string, bytes: Uint8Array): Promise<void> {
  const f = await disk.open(path, { create: true, truncate: true })
  await f.write(bytes, 0)
  await f.close()
}

async function readFile(disk: Disk, path: string): Promise<Uint8Array> {
  const f = await disk.open(path)
  const { sizeBytes } = await f.stat()
  const bytes = await readAll(f, 0, sizeBytes)
  await f.close()
  return bytes
}

export function diskConformance(t: Test, makeDisk: MakeDisk): void {
  const withDisk = (name: string, body: (t: Test, disk: Disk) => Promise<void>): void => {
    t.test(name, async (t) => body(t, await makeDisk(t)))
  }
  withDisk('open: create, exclusive, truncate and the kernel errors', async (t, disk) => {
    await rejectsWith(t, () => disk.open('a'), 'ENOENT', 'a missing file')
    const f = await disk.open('a', { create: true })
    t.equal(f.path, 'a')
    t.equal((await f.stat()).sizeBytes, 0, 'a new file is empty')
    await f.write(text('hello'), 0)
    await f.close()
    await rejectsWith(t, () => disk.open('a', { create: true, exclusive: true }), 'EEXIST', 'exclusive create of an existing file')
    const again = await disk.open('a', { create: true })
    t.equal((await again.stat()).sizeBytes, 5, 'create without exclusive opens the existing file as it is')
    await again.close()
    await rejectsWith(t, () => disk.open('missing/a', { create: true }), 'ENOENT', 'create in a missing directory')
    await rejectsWith(t, () => disk.open('a/b', { create: true }), 'ENOTDIR', 'a file used as a directory')
    await disk.mkdir('d')
    await rejectsWith(t, () => disk.open('d', { write: true }), 'EISDIR', 'a directory opened for writing')
    await rejectsWith(t, () => disk.open('d', { create: true }), 'EISDIR', 'a directory opened with create')
    const ro = await disk.open('a')
    t.equal(decode(await readAll(ro, 0, 100)), 'hello')
    await rejectsWith(t, () => ro.write(text('x'), 0), 'EBADF', 'a write through a read-only file')
    await rejectsWith(t, () => ro.allocate(0, 4096), 'EBADF', 'fallocate through a read-only file')
    await rejectsWith(t, () => ro.truncate(0), ['EBADF', 'EINVAL'], 'ftruncate through a read-only file')
    await ro.close()
    const cut = await disk.open('a', { truncate: true })
    t.equal((await cut.stat()).sizeBytes, 0, 'truncate cuts to 0 (and implies write)')
    await cut.write(text('new'), 0)
    await cut.close()
    t.equal(decode(await readFile(disk, 'a')), 'new')
  })

  withDisk('read and write at offsets: write-all, short reads at the end, zero-filled gaps', async (t, disk) => {
    const f = await disk.open('f', { create: true })
    t.equal(await f.write(text('abcdef'), 0), 6, 'write resolves to its length')
    t.equal(await f.write(text('XY'), 2), 2)
    t.equal(await f.write(text('0123456'), 10, 3, 2), 3, 'length and bufferOffset pick the bytes')
    t.equal((await f.stat()).sizeBytes, 13)
    const into = new Uint8Array(32)
    t.equal(await f.read(into, 0), 13, 'a read past the end returns what there is')
    t.same([...into.subarray(0, 13)], [...text('abXYef'), 0, 0, 0, 0, ...text('234')], 'the gap reads as zeros')
    t.equal(await f.read(into, 11, 10), 2, 'a read across the end is short')
    t.equal(await f.read(into, 13), 0, 'a read at the end reads nothing')
    t.equal(await f.read(into, 1 << 20), 0, 'a read past the end reads nothing')
    const window = new Uint8Array(8)
    t.equal(await f.read(window, 0, undefined, 4), 4, 'the default length is the buffer after bufferOffset')
    t.same([...window], [0, 0, 0, 0, ...text('abXY')])
    t.equal(await f.write(new Uint8Array(0), 100), 0, 'an empty write writes nothing')
    t.equal((await f.stat()).sizeBytes, 13, '... and does not extend the file')
    const big = pattern(1024 * 1024 + 123, 1)
    t.equal(await f.write(big, 4096), big.length)
    sameBytes(t, await readAll(f, 4096, big.length), big, 'a MiB round-trips')
    await rejectsWith(t, () => f.write(text('abc'), 0, 4), 'ERR_INVALID_OPTION', 'a length past the buffer')
    await rejectsWith(t, () => f.read(into, -1), 'ERR_INVALID_OPTION', 'a negative position')
    await rejectsWith(t, () => f.read(into, 0, 4, 40), 'ERR_INVALID_OPTION', 'a bufferOffset past the buffer')
    await f.close()
  })

  withDisk('direct I/O: aligned pool slots round-trip, misaligned I/O is refused with EINVAL', async (t, disk) => {
    const a = disk.alignment
    t.ok(Number.isInteger(a) && a >= 512 && (a & (a - 1)) === 0, `alignment ${a} is a power of two ≥ 512`)
    const pool = new BufferPool(allocateBufferPool({ classes: [{ slotBytes: 64 * 1024, slots: 4 }] }))
    const take = (n: number): PooledBuffer => pool.tryAllocate(n)!
    const out = take(4 * a)
    out.bytes.set(pattern(4 * a, 2))
    const f = await disk.open('direct', { create: true, direct: true })
    t.equal(f.direct, true)
    t.equal(await f.write(out, 0), 4 * a, 'an aligned direct write')
    const back = take(4 * a)
    t.equal(await f.read(back, 0), 4 * a, 'an aligned direct read')
    sameBytes(t, back.bytes, out.bytes, 'the direct read returns what was written')
    const half = a / 2
    await rejectsWith(t, () => f.write(out, half, a), 'EINVAL', 'a misaligned position')
    await rejectsWith(t, () => f.write(out, 0, half), 'EINVAL', 'a misaligned length')
    await rejectsWith(t, () => f.write(out, 0, a, half), 'EINVAL', 'a misaligned buffer offset')
    await rejectsWith(t, () => f.read(back, half, a), 'EINVAL', 'a misaligned read position')
    await rejectsWith(t, () => f.read(back, 0, half), 'EINVAL', 'a misaligned read length')
    await f.close()
    const buffered = await disk.open('direct', { write: true })
    await buffered.write(text('tail'), 4 * a)
    await buffered.close()
    const again = await disk.open('direct', { direct: true })
    const wide = take(8 * a)
    t.equal(await again.read(wide, 0), 4 * a + 4, 'a direct read across the end of an unaligned file is short')
    t.equal(decode(wide.bytes.subarray(4 * a, 4 * a + 4)), 'tail')
    await again.close()
    for (const b of [out, back, wide]) b.release()
  })

  withDisk('sync, fdatasync and O_DSYNC writes keep the data', async (t, disk) => {
    const f = await disk.open('s', { create: true })
    await f.write(text('durable'), 0)
    await f.sync()
    await f.write(text('DATA'), 0)
    await f.sync({ dataOnly: true })
    t.equal(decode(await readAll(f, 0, 100)), 'DATAble')
    await f.close()
    const d = await disk.open('ds', { create: true, dsync: true })
    t.equal(await d.write(text('each write durable'), 0), 18)
    await d.close()
    t.equal(decode(await readFile(disk, 'ds')), 'each write durable')
    await disk.syncDir('')
  })

  withDisk('fallocate, punch hole, truncate and allocatedBytes', async (t, disk) => {
    const block = 4096
    const f = await disk.open('alloc', { create: true })
    await f.allocate(0, 16 * block)
    let st = await f.stat()
    t.equal(st.sizeBytes, 16 * block, 'fallocate grows the file')
    t.ok(st.allocatedBytes >= 16 * block, `fallocate reserves (${st.allocatedBytes} bytes allocated)`)
    sameBytes(t, await readAll(f, 0, 16 * block), new Uint8Array(16 * block), 'reserved space reads as zeros')
    await f.allocate(16 * block, 16 * block, { keepSize: true })
    st = await f.stat()
    t.equal(st.sizeBytes, 16 * block, 'keepSize leaves the size')
    t.ok(st.allocatedBytes >= 32 * block, `keepSize still reserves (${st.allocatedBytes})`)
    await f.close()

    const sparse = await disk.open('sparse', { create: true })
    await sparse.write(pattern(block), 1024 * 1024)
    st = await sparse.stat()
    t.equal(st.sizeBytes, 1024 * 1024 + block)
    t.ok(st.allocatedBytes >= block && st.allocatedBytes < st.sizeBytes, `a sparse file allocates only what was written (${st.allocatedBytes})`)
    await sparse.close()

    const p = await disk.open('punch', { create: true })
    const data = pattern(16 * block, 3)
    await p.write(data, 0)
    await p.sync()
    const before = (await p.stat()).allocatedBytes
    await p.punchHole(4 * block, 4 * block)
    st = await p.stat()
    t.equal(st.sizeBytes, 16 * block, 'punching a hole keeps the size')
    t.ok(st.allocatedBytes <= before - 4 * block, `punching frees the blocks (${before} → ${st.allocatedBytes})`)
    const after = await readAll(p, 0, 16 * block)
    sameBytes(t, after.subarray(4 * block, 8 * block), new Uint8Array(4 * block), 'the hole reads as zeros')
    sameBytes(t, after.subarray(0, 4 * block), data.subarray(0, 4 * block), 'before the hole is intact')
    sameBytes(t, after.subarray(8 * block), data.subarray(8 * block), 'after the hole is intact')

    await p.truncate(1000)
    t.equal((await p.stat()).sizeBytes, 1000, 'truncate shrinks')
    t.equal((await readAll(p, 0, 4 * block)).length, 1000)
    await p.truncate(2 * block)
    const grown = await readAll(p, 0, 4 * block)
    t.equal(grown.length, 2 * block, 'truncate grows')
    sameBytes(t, grown.subarray(0, 1000), data.subarray(0, 1000), 'what was kept is intact')
    sameBytes(t, grown.subarray(1000), new Uint8Array(2 * block - 1000), 'the grown part reads as zeros (what was cut is gone)')
    await p.close()
  })

  withDisk('rename replaces atomically and reports the kernel errors', async (t, disk) => {
    await writeFile(disk, 'old', text('old contents'))
    await writeFile(disk, 'new', text('new contents'))
    const held = await disk.open('new')
    await disk.rename('new', 'old')
    t.equal(decode(await readFile(disk, 'old')), 'new contents', 'the target now has the source contents')
    await rejectsWith(t, () => disk.stat('new'), 'ENOENT', 'the source name is gone')
    t.same((await disk.list('')).map((e) => e.name), ['old'])
    t.equal(decode(await readAll(held, 0, 100)), 'new contents', 'an open file follows its inode across a rename')
    await held.close()
    await disk.mkdir('d')
    await disk.rename('old', 'd/moved')
    t.equal(decode(await readFile(disk, 'd/moved')), 'new contents', 'rename across directories')
    await disk.rename('d/moved', 'd/moved')
    t.equal(decode(await readFile(disk, 'd/moved')), 'new contents', 'renaming a file onto itself does nothing')
    await rejectsWith(t, () => disk.rename('nothing', 'x'), 'ENOENT', 'a missing source')
    await rejectsWith(t, () => disk.rename('d/moved', 'missing/x'), 'ENOENT', 'into a missing directory')
    await disk.mkdir('e')
    await rejectsWith(t, () => disk.rename('d/moved', 'e'), 'EISDIR', 'a file over a directory')
    await rejectsWith(t, () => disk.rename('e', 'd/moved'), 'ENOTDIR', 'a directory over a file')
    await rejectsWith(t, () => disk.rename('e', 'd'), ['ENOTEMPTY', 'EEXIST'], 'a directory over a non-empty one')
    await rejectsWith(t, () => disk.rename('d', 'd/sub'), 'EINVAL', 'a directory into itself')
    await disk.mkdir('empty')
    await disk.rename('e', 'empty')
    t.same(await disk.list(''), [{ name: 'd', kind: 'directory' }, { name: 'empty', kind: 'directory' }], 'a directory replaces an empty one')
  })

  withDisk('mkdir (recursive), rmdir and unlink', async (t, disk) => {
    await disk.mkdir('a')
    await rejectsWith(t, () => disk.mkdir('a'), 'EEXIST', 'mkdir of an existing directory')
    await rejectsWith(t, () => disk.mkdir('x/y'), 'ENOENT', 'mkdir under a missing parent')
    await disk.mkdir('x/y/z', { recursive: true })
    t.equal((await disk.stat('x/y/z')).kind, 'directory', 'recursive creates the missing parents')
    await disk.mkdir('x/y', { recursive: true })
    await disk.mkdir('a', { recursive: true })
    t.pass('recursive accepts existing directories')
    await writeFile(disk, 'a/f', text('f'))
    await rejectsWith(t, () => disk.mkdir('a/f'), 'EEXIST', 'mkdir over a file')
    await rejectsWith(t, () => disk.mkdir('a/f', { recursive: true }), 'EEXIST', 'recursive mkdir over a file')
    await rejectsWith(t, () => disk.mkdir('a/f/g', { recursive: true }), 'ENOTDIR', 'recursive mkdir through a file')
    await rejectsWith(t, () => disk.rmdir('a'), 'ENOTEMPTY', 'rmdir of a non-empty directory')
    await rejectsWith(t, () => disk.rmdir('a/f'), 'ENOTDIR', 'rmdir of a file')
    await rejectsWith(t, () => disk.rmdir('nothing'), 'ENOENT', 'rmdir of nothing')
    await rejectsWith(t, () => disk.unlink('a'), ['EISDIR', 'EPERM'], 'unlink of a directory')
    await rejectsWith(t, () => disk.unlink('a/nothing'), 'ENOENT', 'unlink of nothing')
    const open = await disk.open('a/f', { write: true })
    await disk.unlink('a/f')
    await rejectsWith(t, () => disk.stat('a/f'), 'ENOENT', 'an unlinked file has no name')
    await open.write(text('still here'), 0)
    t.equal(decode(await readAll(open, 0, 100)), 'still here', 'an unlinked file lives on while open')
    await open.close()
    await disk.rmdir('a')
    await disk.rmdir('x/y/z')
    t.same(await disk.list(''), [{ name: 'x', kind: 'directory' }])
  })

  withDisk('list sorts by name and gives kinds; stat gives kind, size and mtime', async (t, disk) => {
    t.same(await disk.list(''), [], 'a fresh disk is empty')
    await writeFile(disk, 'b', text('bb'))
    await writeFile(disk, 'a', text('a'))
    await disk.mkdir('c')
    await writeFile(disk, 'c/inner', text('i'))
    t.same(await disk.list(''), [{ name: 'a', kind: 'file' }, { name: 'b', kind: 'file' }, { name: 'c', kind: 'directory' }])
    t.same(await disk.list('c'), [{ name: 'inner', kind: 'file' }])
    await rejectsWith(t, () => disk.list('a'), 'ENOTDIR', 'list of a file')
    await rejectsWith(t, () => disk.list('nothing'), 'ENOENT', 'list of nothing')
    const st = await disk.stat('b')
    t.equal(st.kind, 'file')
    t.equal(st.sizeBytes, 2)
    t.ok(Number.isFinite(st.mtimeMs), 'mtimeMs is a number')
    t.equal((await disk.stat('c')).kind, 'directory')
    t.equal((await disk.stat('')).kind, 'directory', "'' is the root")
    await rejectsWith(t, () => disk.stat('nothing'), 'ENOENT', 'stat of nothing')
    await rejectsWith(t, () => disk.stat('a/x'), 'ENOTDIR', 'stat through a file')
  })

  withDisk('syncDir and capacity', async (t, disk) => {
    await disk.mkdir('d')
    await writeFile(disk, 'd/f', text('f'))
    await disk.syncDir('d')
    await disk.syncDir('')
    await rejectsWith(t, () => disk.syncDir('nothing'), 'ENOENT', 'syncDir of nothing')
    await rejectsWith(t, () => disk.syncDir('d/f'), 'ENOTDIR', 'syncDir of a file')
    const { totalBytes, freeBytes } = await disk.capacity()
    t.ok(Number.isSafeInteger(totalBytes) && totalBytes > 0, `total ${totalBytes}`)
    t.ok(Number.isSafeInteger(freeBytes) && freeBytes >= 0 && freeBytes <= totalBytes, `free ${freeBytes}`)
  })

  withDisk('concurrent operations each settle on their own', async (t, disk) => {
    const f = await disk.open('c', { create: true })
    const chunk = 4096
    const writes = Array.from({ length: 32 }, (_, i) => f.write(pattern(chunk, i), i * chunk))
    t.same(await Promise.all(writes), Array(32).fill(chunk), 'every write resolves to its length')
    const reads = Array.from({ length: 32 }, async (_, i) => {
      const into = new Uint8Array(chunk)
      await f.read(into, i * chunk)
      return into
    })
    const got = await Promise.all(reads)
    t.ok(got.every((bytes, i) => bytesEqual(bytes, pattern(chunk, i))), 'every range holds its own write')
    await f.close()
    await Promise.all(Array.from({ length: 16 }, (_, i) => writeFile(disk, `n${String(i).padStart(2, '0')}`, text(String(i)))))
    t.equal((await disk.list('')).length, 17, 'concurrent creates all land')
  })

  withDisk('a closed file refuses everything with EBADF; closing twice is harmless', async (t, disk) => {
    const f = await disk.open('x', { create: true })
    await f.write(text('x'), 0)
    await f.close()
    await f.close()
    const into = new Uint8Array(8)
    await rejectsWith(t, () => f.read(into, 0), 'EBADF', 'read after close')
    await rejectsWith(t, () => f.write(into, 0), 'EBADF', 'write after close')
    await rejectsWith(t, () => f.sync(), 'EBADF', 'sync after close')
    await rejectsWith(t, () => f.allocate(0, 4096), 'EBADF', 'allocate after close')
    await rejectsWith(t, () => f.punchHole(0, 4096), 'EBADF', 'punchHole after close')
    await rejectsWith(t, () => f.truncate(0), 'EBADF', 'truncate after close')
    await rejectsWith(t, () => f.stat(), 'EBADF', 'stat after close')
  })

  withDisk('malformed paths are refused with ERR_INVALID_PATH by every operation', async (t, disk) => {
    const bad = ['/abs', 'a//b', './a', 'a/..', '..', 'a/', 'a\0b', 'x'.repeat(5000)]
    for (const path of bad) {
      const shown = JSON.stringify(path.length > 20 ? `${path.slice(0, 20)}...` : path)
      await rejectsWith(t, () => disk.open(path, { create: true }), 'ERR_INVALID_PATH', `open ${shown}`)
      await rejectsWith(t, () => disk.mkdir(path), 'ERR_INVALID_PATH', `mkdir ${shown}`)
      await rejectsWith(t, () => disk.stat(path), 'ERR_INVALID_PATH', `stat ${shown}`)
      await rejectsWith(t, () => disk.list(path), 'ERR_INVALID_PATH', `list ${shown}`)
      await rejectsWith(t, () => disk.rename(path, 'ok'), 'ERR_INVALID_PATH', `rename from ${shown}`)
      await rejectsWith(t, () => disk.rename('ok', path), 'ERR_INVALID_PATH', `rename to ${shown}`)
      await rejectsWith(t, () => disk.unlink(path), 'ERR_INVALID_PATH', `unlink ${shown}`)
      await rejectsWith(t, () => disk.rmdir(path), 'ERR_INVALID_PATH', `rmdir ${shown}`)
      await rejectsWith(t, () => disk.syncDir(path), 'ERR_INVALID_PATH', `syncDir ${shown}`)
    }
    t.same(await disk.list(''), [], 'nothing was created')
  })
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
