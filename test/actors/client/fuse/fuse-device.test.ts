// runtime/fuse-device.ts against the kernel: a mount served on two queues (the mount's fd and a
// FUSE_DEV_IOC_CLONE of it) read on this thread's io_uring, replies, notifications, stale mounts.
import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import {
  DirentType, InitFlag, OUT_HEADER_BYTES, REQUEST_HEADROOM_BYTES, ROOT_ID, S_IFDIR, S_IFREG, decodeRequest, encodeAttr, encodeDirents,
  encodeEmpty, encodeEntry, encodeError, encodeInit, encodeInvalEntry, encodeOpen, type Request,
} from '../../../../actors/client/fuse/kernel-protocol.ts'
import { FuseDevice, mountFuse, mountsAt, probeMount, unmountFuse } from '../../../../runtime/fuse-device.ts'

const run = promisify(execFile)
const skip = process.getuid?.() !== 0 ? 'needs root (mount(2) needs CAP_SYS_ADMIN)' : !existsSync('/dev/fuse') ? 'no /dev/fuse' : false
if (skip) t.comment(`skipping FUSE device tests: ${skip}`)

const MAX_WRITE = 128 * 1024
const FILES = 40

/** A flat directory of FILES empty files named f0..; `names` can be renamed under the kernel's feet. */
function answer(r: Request, out: Uint8Array, names: string[]): number {
  const u = r.header.unique
  const fileAttr = (i: number) => ({ ino: BigInt(i + 2), size: 0, mode: S_IFREG | 0o644, nlink: 1, uid: 0, gid: 0 })
  switch (r.kind) {
    case 'INIT': return encodeInit(out, u, { kernelMinor: r.minor, maxReadahead: r.maxReadahead, maxWrite: MAX_WRITE, flags: r.flags & (InitFlag.ASYNC_READ | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES | InitFlag.PARALLEL_DIROPS) })
    case 'LOOKUP': {
      const i = names.indexOf(r.name)
      // Entries are cached for an hour: only a notification makes the kernel look again.
      return i < 0 ? encodeError(out, u, 'ENOENT') : encodeEntry(out, u, { nodeid: BigInt(i + 2), entryValidSec: 3600, attrValidSec: 3600, attr: fileAttr(i) })
    }
    case 'GETATTR': return r.header.nodeid === ROOT_ID
      ? encodeAttr(out, u, { attrValidSec: 3600, attr: { ino: ROOT_ID, size: 0, mode: S_IFDIR | 0o755, nlink: 2, uid: 0, gid: 0 } })
      : encodeAttr(out, u, { attrValidSec: 3600, attr: fileAttr(Number(r.header.nodeid) - 2) })
    case 'OPENDIR': return encodeOpen(out, u, { fh: 1n })
    case 'READDIR': return encodeDirents(out, u, names.map((name, i) => ({ ino: BigInt(i + 2), name, type: DirentType.REG })), Number(r.offset), r.size).length
    case 'RELEASEDIR': return encodeEmpty(out, u)
    case 'FORGET': case 'BATCH_FORGET': case 'INTERRUPT': return 0
    default: return encodeError(out, u, 'ENOSYS')
  }
}

async function serveQueue(device: FuseDevice, inFlight: number, names: string[], counts: { requests: number }): Promise<string> {
  const out = new Uint8Array(MAX_WRITE + OUT_HEADER_BYTES)
  const loop = async (): Promise<string> => {
    const buf = new Uint8Array(MAX_WRITE + REQUEST_HEADROOM_BYTES)
    for (;;) {
      let n: number
      try {
        n = await device.read(buf)
      } catch (error) {
        const code = (error as { code?: string }).code ?? String(error)
        if (code === 'EINTR' || code === 'ENOENT' || code === 'EAGAIN') continue
        return code
      }
      counts.requests++
      const length = answer(decodeRequest(buf.subarray(0, n)), out, names)
      if (length > 0) device.reply(out, length)
    }
  }
  const ends = await Promise.all(Array.from({ length: inFlight }, loop))
  return ends[0]!
}

t.test('two queues of one connection, read on io_uring, many reads in flight; notifications; unmount', { skip, timeout: 30_000 }, async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 't3fs-fusedev-'))
  const master = FuseDevice.open()
  t.throws(() => FuseDevice.clone(master.fd), { code: 'EPERM' }, 'a connection exists only once mounted')
  let mounted = false
  let clone: FuseDevice | null = null
  t.teardown(async () => {
    if (mounted) await unmountFuse(mnt, { lazy: true }).catch(() => {})
    await master.close()
    await clone?.close()
    rmSync(mnt, { recursive: true, force: true })
  })
  await mountFuse({ target: mnt, fd: master.fd, subtype: 't3fsdev', maxRead: MAX_WRITE })
  mounted = true
  clone = FuseDevice.clone(master.fd)
  t.not(clone.fd, master.fd)
  t.same((await mountsAt(mnt)).map((m) => m.type), ['fuse.t3fsdev'])
  const names = Array.from({ length: FILES }, (_, i) => `f${i}`)
  const counts = [{ requests: 0 }, { requests: 0 }]
  // The clone alone first: it answers INIT and the lookups (the kernel hands a request to whichever
  // queue reads first; on one thread that is always the same one, so the mount actor's tests check
  // queues on several worker hosts sharing the load).
  const serving = [serveQueue(clone, 4, names, counts[1]!)]
  // Stats in parallel from child processes (never from this thread: it serves the mount).
  const half = names.slice(0, FILES / 2)
  const first = await Promise.all(half.map((n) => run('stat', ['-c', '%s %F', join(mnt, n)])))
  t.ok(first.every((s) => s.stdout.trim() === '0 regular empty file'), `${FILES / 2} files stat'ed through the clone`)
  t.ok(counts[1]!.requests >= FILES / 2, `the clone served ${counts[1]!.requests} requests`)
  serving.push(serveQueue(master, 4, names, counts[0]!))
  const second = await Promise.all(names.slice(FILES / 2).map((n) => run('stat', ['-c', '%s %F', join(mnt, n)])))
  t.ok(second.every((s) => s.stdout.trim() === '0 regular empty file'), `${FILES / 2} more with both queues reading`)

  // The kernel caches f0 for an hour; rename it on the server, notify, and the kernel sees it.
  names[0] = 'renamed'
  t.equal((await run('stat', ['-c', '%F', join(mnt, 'f0')])).stdout.trim(), 'regular empty file', 'still cached before the notification')
  const note = new Uint8Array(4096)
  t.equal(await master.notify(note, encodeInvalEntry(note, ROOT_ID, 'f0')), true, 'INVAL_ENTRY accepted')
  const gone = await run('stat', [join(mnt, 'f0')]).then(() => 'found', (e: { stderr: string }) => e.stderr)
  t.match(gone, /No such file/, 'after the notification the kernel looks up f0 again: gone')
  t.equal(await master.notify(note, encodeInvalEntry(note, ROOT_ID, 'never-looked-up')), false, 'a notification about nothing cached: ENOENT is false, not an error')

  await unmountFuse(mnt)
  mounted = false
  t.same(await Promise.all(serving), ['ENODEV', 'ENODEV'], 'both queues end with ENODEV at unmount')
  t.same(await mountsAt(mnt), [])
})

t.test('probeMount tells a stale mount (server gone) from a live one', { skip, timeout: 30_000 }, async (t) => {
  const mnt = mkdtempSync(join(tmpdir(), 't3fs-fusedev-'))
  t.teardown(async () => {
    await unmountFuse(mnt, { lazy: true }).catch(() => {})
    rmSync(mnt, { recursive: true, force: true })
  })
  t.equal(await probeMount(mnt, 'fuse.t3fsstale'), 'none')
  const device = FuseDevice.open()
  await mountFuse({ target: mnt, fd: device.fd, subtype: 't3fsstale', maxRead: MAX_WRITE })
  t.equal(await probeMount(mnt, 'fuse.other'), 'other', 'a mount of another type')
  // The server dies: its fd closes, the kernel aborts the connection, the mount stays behind.
  await device.close()
  t.equal(await probeMount(mnt, 'fuse.t3fsstale'), 'stale')
  await unmountFuse(mnt)
  t.equal(await probeMount(mnt, 'fuse.t3fsstale'), 'none', 'unmounted')
})
