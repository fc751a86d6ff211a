import t from 'tap'
import { execFile } from 'node:child_process'
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, read, readFileSync, rmSync, write, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { promisify } from 'node:util'
import {
  DirentType, InitFlag, IN_HEADER_BYTES, OUT_HEADER_BYTES, Opcode, OpenFlag, REQUEST_HEADROOM_BYTES, ROOT_ID, S_IFDIR, S_IFREG,
  decodeAttr, decodeDirents, decodeOutHeader, decodeRequest, encodeAttr, encodeData, encodeDirents, encodeEmpty, encodeEntry,
  encodeError, encodeInit, encodeOpen, encodeRequest, encodeStatfs, expectsReply, type Attr, type Dirent, type Request,
} from '../../actors/client/fuse/kernel-protocol.ts'
import { mountFuse, openFuseDevice, unmountFuse } from '../../native/index.ts'
import { expectCode } from './expect-code.ts'

const execFileAsync = promisify(execFile)
const readAsync = promisify(read)
const writeAsync = promisify(write)

// ---- codec ------------------------------------------------------------------------------------

const hdr = (opcode: number, nodeid = ROOT_ID) => ({ opcode, unique: 77n, nodeid, uid: 1, gid: 2, pid: 3 })
function req(opcode: number, body: Uint8Array, nodeid = ROOT_ID): Request {
  const buf = new Uint8Array(4096)
  const n = encodeRequest(buf, hdr(opcode, nodeid), body)
  return decodeRequest(buf.subarray(0, n))
}
function le(...fields: Array<[number, number | bigint]>): Uint8Array {
  const size = fields.reduce((s, [w]) => s + w, 0)
  const b = new Uint8Array(size)
  const v = new DataView(b.buffer)
  let o = 0
  for (const [w, x] of fields) {
    if (w === 8) v.setBigUint64(o, BigInt(x), true); else if (w === 4) v.setUint32(o, Number(x), true); else v.setUint16(o, Number(x), true)
    o += w
  }
  return b
}

t.test('codec: requests decode with their fields', async (t) => {
  const init = req(Opcode.INIT, le([4, 7], [4, 45], [4, 131072], [4, 0x73fffffb], [4, 0x5fd], ...Array(11).fill([4, 0]) as Array<[number, number]>))
  t.match(init, { kind: 'INIT', major: 7, minor: 45, maxReadahead: 131072, flags: 0x73fffffbn | (0x5fdn << 32n) })
  t.equal(init.header.len, IN_HEADER_BYTES + 64)
  t.match(req(Opcode.LOOKUP, Buffer.from('hello\0')), { kind: 'LOOKUP', name: 'hello', header: { unique: 77n, uid: 1, gid: 2, pid: 3 } })
  t.match(req(Opcode.GETATTR, le([4, 1], [4, 0], [8, 9n])), { kind: 'GETATTR', getattrFlags: 1, fh: 9n })
  t.match(req(Opcode.OPEN, le([4, 0o100000], [4, 0])), { kind: 'OPEN', flags: 0o100000 })
  t.match(req(Opcode.OPENDIR, le([4, 0], [4, 0])), { kind: 'OPENDIR' })
  t.match(req(Opcode.READ, le([8, 5n], [8, 4096n], [4, 8192], [4, 0], [8, 0n], [4, 0x8000], [4, 0])),
    { kind: 'READ', fh: 5n, offset: 4096n, size: 8192, flags: 0x8000 })
  t.match(req(Opcode.READDIR, le([8, 6n], [8, 2n], [4, 4096], [4, 0], [8, 0n], [4, 0], [4, 0])), { kind: 'READDIR', fh: 6n, offset: 2n })
  t.match(req(Opcode.RELEASE, le([8, 5n], [4, 0], [4, 0], [8, 11n])), { kind: 'RELEASE', fh: 5n, lockOwner: 11n })
  t.match(req(Opcode.RELEASEDIR, le([8, 6n], [4, 0], [4, 0], [8, 0n])), { kind: 'RELEASEDIR', fh: 6n })
  t.match(req(Opcode.FLUSH, le([8, 5n], [4, 0], [4, 0], [8, 12n])), { kind: 'FLUSH', fh: 5n, lockOwner: 12n })
  const forget = req(Opcode.FORGET, le([8, 3n]), 2n)
  t.match(forget, { kind: 'FORGET', nlookup: 3n, header: { nodeid: 2n } })
  t.notOk(expectsReply(forget), 'FORGET gets no reply')
  t.match(req(Opcode.BATCH_FORGET, le([4, 2], [4, 0], [8, 2n], [8, 1n], [8, 3n], [8, 4n])),
    { kind: 'BATCH_FORGET', items: [{ nodeid: 2n, nlookup: 1n }, { nodeid: 3n, nlookup: 4n }] })
  t.match(req(Opcode.STATFS, new Uint8Array(0)), { kind: 'STATFS' })
  t.match(req(Opcode.INTERRUPT, le([8, 99n])), { kind: 'INTERRUPT', interruptedUnique: 99n })
  t.match(req(Opcode.MKDIR, Buffer.concat([le([4, 0o755], [4, 0o22]), Buffer.from('d\0')])), { kind: 'MKDIR', mode: 0o755, umask: 0o22, name: 'd' })
  t.match(req(Opcode.BMAP, le([8, 0n], [4, 0], [4, 0])), { kind: 'OTHER', name: 'BMAP' })
  t.throws(() => decodeRequest(new Uint8Array(10)), { code: 'ERR_FUSE_PROTOCOL' })
  t.throws(() => req(Opcode.READ, le([8, 1n])), { code: 'ERR_FUSE_PROTOCOL' }, 'a truncated READ body')
})

t.test('codec: replies have the kernel struct layouts', async (t) => {
  const out = new Uint8Array(4096)
  t.equal(encodeError(out, 5n, 'ENOENT'), OUT_HEADER_BYTES)
  t.same(decodeOutHeader(out), { len: 16, error: -2, unique: 5n })
  t.equal(encodeError(out, 5n, 5), 16)
  t.equal(decodeOutHeader(out).error, -5)
  t.throws(() => encodeError(out, 1n, 'ENOTANERRNO'), { code: 'ERR_FUSE_PROTOCOL' })
  t.equal(encodeEmpty(out, 6n), 16)

  const n = encodeInit(out, 1n, { kernelMinor: 45, maxReadahead: 65536, flags: InitFlag.ASYNC_READ | InitFlag.MAX_PAGES | InitFlag.INIT_EXT, maxWrite: 131072 })
  t.equal(n, 16 + 64)
  const iv = new DataView(out.buffer, 16)
  t.same([iv.getUint32(0, true), iv.getUint32(4, true), iv.getUint32(8, true), iv.getUint32(20, true), iv.getUint16(28, true)],
    [7, 38, 65536, 131072, 32], 'major, minor capped at 38, readahead, max_write, max_pages')
  t.equal(iv.getUint32(12, true), Number(InitFlag.ASYNC_READ | InitFlag.MAX_PAGES | InitFlag.INIT_EXT))

  const attr: Attr = { ino: 2n, size: 1000, mode: S_IFREG | 0o444, nlink: 1, uid: 0, gid: 0, mtimeSec: 1_700_000_000, mtimeNsec: 5 }
  t.equal(encodeEntry(out, 2n, { nodeid: 2n, entryValidSec: 1.5, attrValidSec: 2, attr }), 16 + 128)
  const ev = new DataView(out.buffer, 16)
  t.same([ev.getBigUint64(0, true), ev.getBigUint64(16, true), ev.getUint32(32, true)], [2n, 1n, 500_000_000])
  t.match(decodeAttr(out.subarray(16 + 40, 16 + 128)), { ino: 2n, size: 1000n, blocks: 2n, mode: S_IFREG | 0o444, mtimeSec: 1_700_000_000, mtimeNsec: 5, blksize: 4096 })
  t.equal(encodeAttr(out, 3n, { attrValidSec: 1, attr }), 16 + 104)
  t.match(decodeAttr(out.subarray(32, 120)), { ino: 2n, size: 1000n })
  t.equal(encodeOpen(out, 4n, { fh: 42n, openFlags: OpenFlag.KEEP_CACHE }), 32)
  t.equal(new DataView(out.buffer).getBigUint64(16, true), 42n)
  t.equal(encodeData(out, 5n, Buffer.from('abc')), 19)
  t.equal(Buffer.from(out.subarray(16, 19)).toString(), 'abc')
  t.equal(encodeStatfs(out, 6n, { blocks: 10n, bfree: 0n, bavail: 0n, files: 3n, ffree: 0n, bsize: 4096, namelen: 255, frsize: 4096 }), 96)
  t.throws(() => encodeData(new Uint8Array(20), 1n, new Uint8Array(10)), { code: 'ERR_FUSE_PROTOCOL' }, 'a reply that does not fit')

  const entries: Dirent[] = [
    { ino: 1n, name: '.', type: DirentType.DIR }, { ino: 1n, name: '..', type: DirentType.DIR },
    { ino: 2n, name: 'hello', type: DirentType.REG }, { ino: 3n, name: 'a-much-longer-file-name.txt', type: DirentType.REG },
  ]
  const all = encodeDirents(out, 7n, entries, 0, 4096)
  t.equal(all.count, 4)
  t.equal((all.length - 16) % 8, 0, 'records are 8-byte aligned')
  t.same(decodeDirents(out.subarray(16, all.length)).map((d) => [d.name, d.off, d.type]),
    [['.', 1n, 4], ['..', 2n, 4], ['hello', 3n, 8], ['a-much-longer-file-name.txt', 4n, 8]])
  const some = encodeDirents(out, 7n, entries, 2, 40)
  t.equal(some.count, 1, 'stops at the request size')
  t.equal(encodeDirents(out, 7n, entries, 4, 4096).count, 0, 'past the end: an empty reply')
})

t.test('codec: decodeRequest on arbitrary bytes returns a request or throws ERR_FUSE_PROTOCOL', async (t) => {
  const fc = await import('fast-check')
  const opcodes = Object.values(Opcode)
  fc.assert(fc.property(fc.constantFrom(...opcodes), fc.uint8Array({ maxLength: 200 }), fc.boolean(), (opcode, body, lie) => {
    const buf = new Uint8Array(IN_HEADER_BYTES + body.length)
    encodeRequest(buf, hdr(opcode), body)
    if (lie) new DataView(buf.buffer).setUint32(0, IN_HEADER_BYTES + body.length + 8, true) // header claims more than was read
    try {
      const r = decodeRequest(buf)
      return r.header.opcode === opcode
    } catch (error) {
      return (error as { code?: string }).code === 'ERR_FUSE_PROTOCOL'
    }
  }), { numRuns: 2000 })
  t.pass('2000 random requests decoded or rejected with ERR_FUSE_PROTOCOL')
})

// ---- a tiny read-only file system served over /dev/fuse -----------------------------------

const HELLO = Buffer.from('hello from t3fs over FUSE\n')
interface Node { ino: bigint; name: string; attr: Attr; data?: Buffer; fails?: string }
const nodes: Node[] = [
  { ino: ROOT_ID, name: '', attr: { ino: ROOT_ID, size: 0, mode: S_IFDIR | 0o555, nlink: 2, uid: 0, gid: 0 } },
  { ino: 2n, name: 'hello', data: HELLO, attr: { ino: 2n, size: HELLO.length, mode: S_IFREG | 0o444, nlink: 1, uid: 0, gid: 0 } },
  { ino: 3n, name: 'broken', fails: 'EIO', attr: { ino: 3n, size: 4096, mode: S_IFREG | 0o444, nlink: 1, uid: 0, gid: 0 } },
]
const byIno = new Map(nodes.map((n) => [n.ino, n]))
const dirents: Dirent[] = [
  { ino: ROOT_ID, name: '.', type: DirentType.DIR }, { ino: ROOT_ID, name: '..', type: DirentType.DIR },
  ...nodes.slice(1).map((n) => ({ ino: n.ino, name: n.name, type: DirentType.REG })),
]
const MAX_WRITE_BYTES = 128 * 1024

/** Answers one request into `out`; returns the reply length (0: no reply). */
function answer(r: Request, out: Uint8Array, seen: Set<string>): number {
  const unique = r.header.unique
  seen.add(r.kind === 'OTHER' ? String(r.name) : r.kind)
  switch (r.kind) {
    case 'INIT':
      return encodeInit(out, unique, { kernelMinor: r.minor, maxReadahead: r.maxReadahead, maxWrite: MAX_WRITE_BYTES,
        flags: r.flags & (InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES) })
    case 'LOOKUP': {
      const n = r.header.nodeid === ROOT_ID ? nodes.find((x) => x.name === r.name && x.ino !== ROOT_ID) : undefined
      return n ? encodeEntry(out, unique, { nodeid: n.ino, entryValidSec: 1, attrValidSec: 1, attr: n.attr }) : encodeError(out, unique, 'ENOENT')
    }
    case 'GETATTR': {
      const n = byIno.get(r.header.nodeid)
      return n ? encodeAttr(out, unique, { attrValidSec: 1, attr: n.attr }) : encodeError(out, unique, 'ENOENT')
    }
    case 'OPEN': return (r.flags & 3) !== 0 ? encodeError(out, unique, 'EROFS') : encodeOpen(out, unique, { fh: r.header.nodeid })
    case 'OPENDIR': return encodeOpen(out, unique, { fh: 0n })
    case 'READ': {
      const n = byIno.get(r.header.nodeid)
      if (!n?.data) return encodeError(out, unique, n?.fails ?? 'EIO')
      const start = Number(r.offset)
      return encodeData(out, unique, n.data.subarray(start, start + r.size))
    }
    case 'READDIR': return encodeDirents(out, unique, dirents, Number(r.offset), r.size).length
    case 'STATFS': return encodeStatfs(out, unique, { blocks: 1n, bfree: 0n, bavail: 0n, files: 3n, ffree: 0n, bsize: 4096, namelen: 255, frsize: 4096 })
    case 'RELEASE': case 'RELEASEDIR': case 'FLUSH': case 'DESTROY': return encodeEmpty(out, unique)
    case 'FORGET': case 'BATCH_FORGET': return 0
    case 'INTERRUPT': return 0
    default: return encodeError(out, unique, 'ENOSYS')
  }
}

/** Serves until the mount goes away (read fails with ENODEV). Reads are async (thread pool). */
async function serve(fd: number, seen: Set<string>): Promise<{ served: number; ended: string }> {
  const inBuf = Buffer.alloc(MAX_WRITE_BYTES + REQUEST_HEADROOM_BYTES) // ≥ max_write + headers, reused
  const outBuf = Buffer.alloc(MAX_WRITE_BYTES + OUT_HEADER_BYTES)
  let served = 0
  for (;;) {
    let n: number
    try {
      n = (await readAsync(fd, inBuf, 0, inBuf.length, null)).bytesRead
    } catch (error) {
      const code = (error as { code?: string }).code ?? String(error)
      if (code === 'EINTR' || code === 'EAGAIN') continue
      return { served, ended: code }
    }
    const request = decodeRequest(inBuf.subarray(0, n))
    const length = answer(request, outBuf, seen)
    served++
    if (length > 0) {
      try { await writeAsync(fd, outBuf, 0, length) } catch (error) {
        // ENOENT: the request was interrupted and is gone; anything else ends the session.
        if ((error as { code?: string }).code !== 'ENOENT') return { served, ended: String((error as { code?: string }).code) }
      }
    }
  }
}

type WorkerRead = { bytes: number; text: string } | { error: number; syscall: string }
/** Opens and reads each path with the addon's io_uring in a worker thread (its own ring). */
async function ioFromWorker(paths: string[]): Promise<WorkerRead[]> {
  const addon = new URL('../../native/t3fs_native.node', import.meta.url).pathname
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const a = require(workerData.addon);
     const run = (p) => { a.uringSubmit(); return p };
     (async () => {
       const out = [];
       for (const path of workerData.paths) {
         const fd = await run(a.uringOpen(path, 0, 0));
         const buf = Buffer.alloc(4096);
         try {
           const n = await run(a.uringRead(fd, buf, 0, 4096, 0));
           out.push({ bytes: n, text: buf.subarray(0, n).toString() });
         } catch (e) { out.push({ error: e.errno, syscall: e.syscall }) }
         await run(a.uringClose(fd));
       }
       parentPort.postMessage(out);
     })().catch((e) => parentPort.postMessage(String(e)));`,
    { eval: true, workerData: { addon, paths } },
  )
  try {
    const reply = await new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('worker I/O through FUSE timed out')), 10_000)
      worker.once('message', (m) => { clearTimeout(timer); resolve(m) })
      worker.once('error', reject)
    })
    if (!Array.isArray(reply)) throw new Error(`worker failed: ${String(reply)}`)
    return reply as WorkerRead[]
  } finally {
    await worker.terminate()
  }
}

const rootReason = process.getuid?.() !== 0 ? 'FUSE mount tests need root (mount(2) needs CAP_SYS_ADMIN)'
  : !existsSync('/dev/fuse') ? '/dev/fuse is missing (no FUSE in this kernel)' : undefined
if (rootReason) t.comment(`skipping FUSE mount tests: ${rootReason}`)

t.test('mount a read-only FS served from TypeScript, read through it, unmount', { skip: rootReason ?? false, timeout: 25_000 }, async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 't3fs-fuse-'))
  const fd = openFuseDevice()
  const seen = new Set<string>()
  let mounted = false
  t.teardown(async () => {
    if (mounted) await unmountFuse(mnt, { lazy: true }).catch(() => undefined)
    rmSync(mnt, { recursive: true, force: true })
  })
  await mountFuse({ target: mnt, fd, subtype: 't3fstest', source: 't3fs-test', readOnly: true, maxRead: MAX_WRITE_BYTES, userId: 0, groupId: 0 })
  mounted = true
  const serving = serve(fd, seen)
  // Watchdog: a hung round trip would leave this process stuck in the kernel (D state) when tap
  // kills it, so abort the FUSE connection first (its id is the mount's device minor, read from
  // mountinfo: a stat of the mount point would itself be a FUSE request to this thread).
  const info = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === mnt)
  const minor = info?.split(' ')[2]?.split(':')[1] ?? 'unknown'
  const connection = `/sys/fs/fuse/connections/${minor}/abort`
  const watchdog = setTimeout(() => {
    t.fail('FUSE round trip hung: aborting the connection')
    try { writeFileSync(connection, '1') } catch { /* fusectl not mounted */ }
    void unmountFuse(mnt, { lazy: true }).catch(() => undefined)
  }, 15_000)
  watchdog.unref()
  t.teardown(() => clearTimeout(watchdog))

  const { stdout: mounts } = await execFileAsync('grep', [mnt, '/proc/self/mounts'])
  t.match(mounts, /t3fs-test .* fuse\.t3fstest ro,nosuid,nodev/, 'listed in /proc/mounts')
  t.match(minor, /^\d+$/, `connection ${minor} found in mountinfo`)
  const { stdout: cat } = await execFileAsync('cat', [join(mnt, 'hello')])
  t.equal(cat, HELLO.toString(), 'cat reads the file through the kernel')
  const { stdout: ls } = await execFileAsync('ls', ['-1a', mnt])
  t.same(ls.trim().split('\n').sort(), ['.', '..', 'broken', 'hello'], 'ls lists the directory')
  const { stdout: stat } = await execFileAsync('stat', ['-c', '%s %a %F', join(mnt, 'hello')])
  t.equal(stat.trim(), `${HELLO.length} 444 regular file`)
  const { stdout: df } = await execFileAsync('stat', ['-f', '-c', '%b %S', mnt])
  t.equal(df.trim(), '1 4096', 'statfs answered')
  const missing = await execFileAsync('cat', [join(mnt, 'nope')]).then(() => '', (e: { stderr: string }) => e.stderr)
  t.match(missing, /No such file or directory/, 'ENOENT from LOOKUP')
  const broken = await execFileAsync('cat', [join(mnt, 'broken')]).then(() => '', (e: { stderr: string }) => e.stderr)
  t.match(broken, /Input\/output error/, 'a READ answered with EIO')

  // The same EIO through io_uring, from a worker thread with its own ring: this thread serves the
  // mount, and io_uring may touch the file inline in io_uring_enter (io_file_supports_nowait polls a
  // FUSE file = a FUSE_POLL request), so the serving thread must not do I/O on its own mount.
  const reply = await ioFromWorker([join(mnt, 'broken'), join(mnt, 'hello')])
  t.same(reply[0], { error: 5, syscall: 'read' }, 'io_uring read of a failing FUSE file: errno 5 (EIO)')
  t.same(reply[1], { bytes: HELLO.length, text: HELLO.toString() }, 'io_uring read through FUSE')

  await unmountFuse(mnt)
  mounted = false
  const result = await serving
  t.equal(result.ended, 'ENODEV', 'the server sees ENODEV after unmount')
  closeSync(fd)
  for (const op of ['INIT', 'LOOKUP', 'GETATTR', 'OPEN', 'READ', 'OPENDIR', 'READDIR', 'RELEASE', 'RELEASEDIR', 'FLUSH', 'STATFS']) {
    t.ok(seen.has(op), `served ${op}`)
  }
  t.comment(`requests served: ${result.served}; kinds: ${[...seen].sort().join(' ')}`)
  const { stdout: after } = await execFileAsync('cat', ['/proc/self/mounts'])
  t.notOk(after.includes(mnt), 'gone from /proc/mounts')
})

t.test('mount errors are clear', { skip: rootReason ?? false, timeout: 20_000 }, async (t) => {
  const fd = openFuseDevice()
  const missing = join(tmpdir(), `t3fs-no-such-dir-${process.pid}`)
  const e1 = await expectCode(t, () => mountFuse({ target: missing, fd }), 'ENOENT', 'a missing mount point')
  t.equal(e1?.details.path, missing)
  closeSync(fd)
  const file = join(tmpdir(), `t3fs-fuse-notdev-${process.pid}`)
  writeFileSync(file, 'x')
  const notFuse = (await import('node:fs')).openSync(file, 'r')
  const dir = mkdtempSync(join(tmpdir(), 't3fs-fuse-'))
  await expectCode(t, () => mountFuse({ target: dir, fd: notFuse }), 'EINVAL', 'an fd that is not /dev/fuse')
  closeSync(notFuse)
  rmSync(file)
  await expectCode(t, () => unmountFuse(dir), 'EINVAL', 'unmounting something that is not mounted')
  await expectCode(t, () => mountFuse({ target: dir, fd: -1 }), 'ERR_INVALID_OPTION', 'a negative fd')
  await expectCode(t, () => mountFuse({ target: dir, fd: 3, subtype: 'a b' }), 'ERR_INVALID_OPTION', 'a bad subtype')

  // Without CAP_SYS_ADMIN: a child running as nobody gets EPERM with the hint. The child must
  // reach the addon and the mount point whatever the checkout's directory modes are (a checkout
  // under /root is 0700), so both live in a fresh temp directory opened to everyone.
  const open = mkdtempSync(join(tmpdir(), 't3fs-fuse-nonroot-'))
  chmodSync(open, 0o755)
  const addon = join(open, 't3fs_native.node')
  copyFileSync(new URL('../../native/t3fs_native.node', import.meta.url), addon)
  chmodSync(addon, 0o644)
  const target = join(open, 'mnt')
  mkdirSync(target, { mode: 0o755 })
  const script = `const a = require(${JSON.stringify(addon)}); const fd = a.fuseOpen();
    a.fuseMount({ source: 'x', target: ${JSON.stringify(target)}, type: 'fuse.x', fd }).then(
      () => console.log('mounted?!'), (e) => console.log(e.code, e.errno, e.syscall))`
  // (The raw addon has no error factory in that child, so the code reads 'ERRNO' and errno is 1 = EPERM.)
  // `env -i`: tap's process-info hook adds NODE_OPTIONS (an --import from the checkout's
  // node_modules, unreadable for nobody under a 0700 checkout) to every child's environment.
  const child = await execFileAsync('env', ['-i', process.execPath, '-e', script], { uid: 65534, gid: 65534, cwd: '/' })
    .catch((e: { stdout: string; stderr: string }) => e)
  t.equal(child.stdout.trim(), 'ERRNO 1 mount', `a non-root mount fails with EPERM${child.stderr ? ` (child stderr: ${child.stderr.trim()})` : ''}`)
  rmSync(open, { recursive: true, force: true })
  rmSync(dir, { recursive: true, force: true })
})
