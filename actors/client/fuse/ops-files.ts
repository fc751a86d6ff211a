/**
 * Requests on open files: OPEN, CREATE, READ, WRITE, FLUSH, RELEASE, FSYNC, FALLOCATE, LSEEK.
 *
 * A file handle is a FileClient handle (write-behind buffer and read-ahead per file). WRITE
 * answers once the FileClient took the bytes; FLUSH (every close(2)) waits until storage has them,
 * so close reports a failed write; RELEASE (the last close) ends the write session, after which
 * meta has the file's length; FSYNC also has meta record it. O_DIRECT opens skip the kernel's page
 * cache and the FileClient's buffers (direct_io).
 */
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import type { AccessMode, FileHandle } from '../file-client.ts'
import { attrOf, inodeOf, nodeidOf } from './attrs.ts'
import type { OpenFile } from './handles.ts'
import { killedPerm, killSuidSgid, OPEN_KILL_SUIDGID } from './kill-privs.ts'
import { OUT_HEADER_BYTES, OpenFlag, ReleaseFlag, WriteFlag, encodeCreate, encodeEmpty, encodeLseek, encodeOpen, encodeWrite, type Request, type RequestKind, type RequestOf } from './kernel-protocol.ts'
import { ownedByCaller } from './ops-entries.ts'
import { releaseLocksOf } from './ops-locks.ts'
import { snapshotOf, type FuseSession } from './session.ts'
import type { LentBytes } from '../lent-bytes.ts'

export const FILE_OPS: ReadonlySet<RequestKind> = new Set<RequestKind>(['OPEN', 'CREATE', 'READ', 'WRITE', 'FLUSH', 'RELEASE', 'FSYNC', 'FALLOCATE', 'LSEEK'])

export type FileRequest = RequestOf<'OPEN' | 'CREATE' | 'READ' | 'WRITE' | 'FLUSH' | 'RELEASE' | 'FSYNC' | 'FALLOCATE' | 'LSEEK'>
export const isFileOp = (r: Request): r is FileRequest => FILE_OPS.has(r.kind)

const O_ACCMODE = 3
const O_EXCL = 0o200
const O_TRUNC = 0o1000
const O_APPEND = 0o2000
const O_DIRECT = 0o40000
const FALLOC_FL_KEEP_SIZE = 1
const SEEK_DATA = 3
const SEEK_HOLE = 4
const errno = (code: string, message: string): Error => Object.assign(new Error(`${code}: ${message}`), { code })

function accessOf(flags: number): AccessMode {
  const mode = flags & O_ACCMODE
  return mode === 0 ? 'read' : mode === 1 ? 'write' : 'readwrite'
}

function openOptions(flags: number) {
  return { access: accessOf(flags), trunc: (flags & O_TRUNC) !== 0, append: (flags & O_APPEND) !== 0, direct: (flags & O_DIRECT) !== 0 }
}

function addHandle(s: FuseSession, nodeid: bigint, handle: FileHandle): { fh: bigint; openFlags: number } {
  const fh = s.handles.add({ kind: 'file', nodeid, handle, writable: handle.access !== 'read', dirty: false })
  return { fh, openFlags: handle.direct ? OpenFlag.DIRECT_IO : 0 }
}

export async function serveFileOp(s: FuseSession, r: FileRequest, dev: FuseDevice, lent?: LentBytes): Promise<void> {
  const unique = r.header.unique
  switch (r.kind) {
    case 'OPEN': {
      const handle = await s.client.open({ inode: inodeOf(r.header.nodeid) }, openOptions(r.flags))
      if ((r.openFlags & OPEN_KILL_SUIDGID) !== 0) {
        // O_TRUNC by a caller without CAP_FSETID. A failed open gets no RELEASE: the handle goes now.
        await killSuidSgid(s, r.header.nodeid, dev).catch(async (error: unknown) => {
          await s.client.close(handle).catch(() => {})
          throw error
        })
      }
      const opened = addHandle(s, r.header.nodeid, handle)
      return s.reply(dev, (out) => encodeOpen(out, unique, opened))
    }
    case 'CREATE': return create(s, r, dev)
    case 'READ': return read(s, r, dev)
    case 'WRITE': {
      const open = s.handles.file(r.fh)
      if ((r.writeFlags & WriteFlag.KILL_SUIDGID) !== 0) await killSuidSgid(s, r.header.nodeid, dev)
      const n = await s.client.write(open.handle, r.data, Number(r.offset), lent)
      open.dirty = true
      s.table.wroteData(r.header.nodeid)
      s.counters.bytesWritten += n
      return s.reply(dev, (out) => encodeWrite(out, unique, n))
    }
    case 'FLUSH': {
      const open = s.handles.file(r.fh)
      await releaseLocksOf(s, r.header.nodeid, 'posix', r.lockOwner)
      if (open.dirty) {
        open.dirty = false
        await s.client.flush(open.handle)
      }
      return s.reply(dev, (out) => encodeEmpty(out, unique))
    }
    case 'RELEASE': return release(s, r, dev)
    case 'FSYNC': await s.client.fsync(s.handles.file(r.fh).handle); return s.reply(dev, (out) => encodeEmpty(out, unique))
    case 'FALLOCATE': return fallocate(s, r, dev)
    case 'LSEEK': {
      // Holes are not tracked: the whole file is data (POSIX allows it), its end the only hole.
      if (r.whence !== SEEK_DATA && r.whence !== SEEK_HOLE) throw errno('EINVAL', `lseek whence ${r.whence}`)
      const size = BigInt((await s.client.fstat(s.handles.file(r.fh).handle)).sizeBytes)
      if (r.offset >= size) throw errno('ENXIO', `offset ${r.offset} is at or past the end (${size})`)
      return s.reply(dev, (out) => encodeLseek(out, unique, r.whence === SEEK_DATA ? r.offset : size))
    }
  }
}

async function create(s: FuseSession, r: RequestOf<'CREATE'>, dev: FuseDevice): Promise<void> {
  const options = { ...openOptions(r.flags), excl: (r.flags & O_EXCL) !== 0 }
  const handle = await s.client.create({ path: r.name, at: inodeOf(r.header.nodeid) }, r.mode & 0o7777, options)
  let opened: { fh: bigint; openFlags: number } | null = null
  try {
    let stat = await ownedByCaller(s, r.header, await s.client.fstat(handle))
    opened = addHandle(s, nodeidOf(stat.inode), handle)
    const nodeid = nodeidOf(stat.inode)
    // O_TRUNC of a file that was there, by a caller without CAP_FSETID.
    const killed = (r.openFlags & OPEN_KILL_SUIDGID) !== 0 && !handle.created ? killedPerm(stat.perm) : null
    if (killed !== null) stat = await s.client.setattr({ inode: stat.inode }, { perm: killed })
    s.table.lookedUp(nodeid, { parent: r.header.nodeid, name: r.name }, snapshotOf(stat))
    const entry = { nodeid, entryValidSec: s.config.entryTimeoutMs / 1000, attrValidSec: s.attrTimeoutSec(stat), attr: attrOf(stat) }
    const o = opened
    s.reply(dev, (out) => encodeCreate(out, r.header.unique, entry, o))
  } catch (error) {
    if (opened !== null) s.handles.remove(opened.fh)
    await s.client.close(handle).catch(() => {})
    throw error
  }
}

async function read(s: FuseSession, r: RequestOf<'READ'>, dev: FuseDevice): Promise<void> {
  const open = s.handles.file(r.fh)
  const buffer = await s.readBuffer()
  try {
    const size = Math.min(r.size, buffer.byteLength - OUT_HEADER_BYTES)
    const n = await s.client.read(open.handle, buffer, Number(r.offset), size, OUT_HEADER_BYTES)
    s.counters.bytesRead += n
    const v = new DataView(buffer.buffer, buffer.byteOffset, OUT_HEADER_BYTES)
    v.setUint32(0, OUT_HEADER_BYTES + n, true)
    v.setInt32(4, 0, true)
    v.setBigUint64(8, r.header.unique, true)
    dev.reply(buffer, OUT_HEADER_BYTES + n)
  } finally {
    s.releaseReadBuffer(buffer)
  }
}

/** The kernel does not wait for RELEASE's answer: a failure (the write session could not end) is logged. */
async function release(s: FuseSession, r: RequestOf<'RELEASE'>, dev: FuseDevice): Promise<void> {
  const open = s.handles.remove(r.fh) as OpenFile | undefined
  try {
    if ((r.releaseFlags & ReleaseFlag.FLOCK_UNLOCK) !== 0) await releaseLocksOf(s, r.header.nodeid, 'flock', r.lockOwner)
    if (open?.kind === 'file') await s.client.close(open.handle)
  } catch (error) {
    s.log.warn({ evt: 'FuseReleaseFailed', nodeid: String(r.header.nodeid), err: (error as Error).message })
  }
  s.reply(dev, (out) => encodeEmpty(out, r.header.unique))
}

async function fallocate(s: FuseSession, r: RequestOf<'FALLOCATE'>, dev: FuseDevice): Promise<void> {
  // Chunks are allocated by the first write to them: reserving space means nothing here, but a
  // plain fallocate past the end must grow the file (zeros); punching holes is not supported.
  if ((r.mode & ~FALLOC_FL_KEEP_SIZE) !== 0) throw errno('EOPNOTSUPP', `fallocate mode 0x${r.mode.toString(16)}`)
  const open = s.handles.file(r.fh)
  if (r.mode === 0) {
    const end = Number(r.offset + r.length)
    const size = (await s.client.fstat(open.handle)).sizeBytes
    if (end > size) await s.client.truncate(open.handle, end)
  }
  s.reply(dev, (out) => encodeEmpty(out, r.header.unique))
}
