/**
 * The production Disk: a directory of the host's file system, driven through the calling
 * thread's io_uring. Create it on the thread that uses it (each worker host has its own ring):
 *
 *   const disk = await UringDisk.open({ root: '/var/lib/t3fs/target-1', pool })
 *
 * Every path is checked with checkDiskPath ('..' and absolute paths are refused) and resolved
 * against a handle on the root directory (opened once, O_PATH). Opens also refuse to resolve
 * outside it (openat2 RESOLVE_BENEATH), so a symlink planted inside cannot lead a read or write
 * out. The other operations (*at() calls without resolve flags) follow symlinks in the middle of a
 * path; the Disk interface cannot create symlinks, so only someone with access to the host's file
 * system could plant one. Directory listing and capacity run on node:fs (the libuv pool), by path
 * under the root: io_uring has no getdents or statfs.
 */
import { readdir, statfs, mkdir as mkdirFs } from 'node:fs/promises'
import { isAbsolute, join } from 'node:path'
import { uring, type Uring } from '../../native/index.ts'
import type { BufferPool, BufferPoolMemory } from '../buffer-pool.ts'
import { invalidOption, isT3fsError } from '../errors.ts'
import type { Disk, DiskCapacity, DiskDirEntry, DiskFile, DiskOpenOptions, DiskStat } from './disk.ts'
import { checkDiskPath, diskError } from './disk-path.ts'
import { InFlight } from './in-flight.ts'
import { probeAlignment } from './uring-alignment.ts'
import { registerPoolWithRing } from './uring-buffers.ts'
import { kernelError } from './uring-error.ts'
import { diskStat, UringFile, type UringFileOwner } from './uring-file.ts'

export interface UringDiskOptions {
  /** The disk's root: an absolute path to a directory. */
  readonly root: string
  /** Create the root (and its parents) when missing. Default false: a missing root is ENOENT. */
  readonly create?: boolean
  /** A buffer pool to register with this thread's ring: its slots then use READ/WRITE_FIXED. */
  readonly pool?: BufferPool | BufferPoolMemory
}

const openFlagNames = ['write', 'create', 'exclusive', 'truncate', 'direct', 'dsync'] as const

export class UringDisk implements Disk, UringFileOwner {
  readonly #ring: Uring
  readonly #rootFd: number
  readonly #files = new Set<UringFile>()
  /** Ring operations that use the root handle (close waits for them). */
  readonly #inFlight = new InFlight()
  #closing: Promise<void> | null = null

  private constructor(ring: Uring, rootFd: number, readonly root: string, readonly alignment: number) {
    this.#ring = ring
    this.#rootFd = rootFd
  }

  /** Opens the disk rooted at `options.root` on this thread's ring. */
  static async open(options: UringDiskOptions): Promise<UringDisk> {
    const root = options?.root
    if (typeof root !== 'string' || !isAbsolute(root) || root.includes('\0')) {
      throw invalidOption('root', root, 'an absolute path to a directory, without NUL')
    }
    const pool = options.pool
    if (pool !== undefined && (typeof pool !== 'object' || pool === null || !Array.isArray(('memory' in pool ? pool.memory : pool).classes))) {
      throw invalidOption('pool', pool, 'a BufferPool or its BufferPoolMemory')
    }
    const ring = uring()
    if (options.create === true) {
      try {
        await mkdirFs(root, { recursive: true })
      } catch (error) {
        throw kernelError(error, 'mkdir', '', root)
      }
    }
    let rootFd: number
    try {
      rootFd = await ring.open(root, { pathOnly: true, directory: true })
    } catch (error) {
      throw kernelError(error, 'open', '', root)
    }
    try {
      const alignment = await probeAlignment(ring, rootFd)
      if (pool !== undefined) registerPoolWithRing(pool)
      return new UringDisk(ring, rootFd, root, alignment)
    } catch (error) {
      await ring.close(rootFd)
      throw error
    }
  }

  get name(): string {
    return this.root
  }

  /** Registers a buffer pool with this thread's ring (every disk on the thread then uses it). */
  registerPool(pool: BufferPool | BufferPoolMemory): void {
    registerPoolWithRing(pool)
  }

  async open(path: string, options: DiskOpenOptions = {}): Promise<DiskFile> {
    const rel = this.#resolve('open', path)
    for (const name of openFlagNames) {
      const value = options[name]
      if (value !== undefined && typeof value !== 'boolean') throw invalidOption(name, value, 'true or false')
    }
    const write = options.write === true || options.create === true || options.truncate === true
    const fd = await this.#io('open', path, this.#ring.open(rel, {
      dirFd: this.#rootFd, beneath: true, write, create: options.create, exclusive: options.exclusive,
      truncate: options.truncate, direct: options.direct, dsync: options.dsync,
    }))
    if (this.#closing !== null) {
      // The disk closed while this open was in flight: the file would outlive it.
      await this.#ring.close(fd)
      this.#checkOpen('open', path)
    }
    const file = new UringFile(fd, path, options.direct === true, this)
    this.#files.add(file)
    return file
  }

  async mkdir(path: string, options: { readonly recursive?: boolean } = {}): Promise<void> {
    const segments = checkDiskPath(path)
    this.#checkOpen('mkdir', path)
    if (options.recursive !== true) {
      await this.#io('mkdir', path, this.#ring.mkdir(rel(segments), { dirFd: this.#rootFd }))
      return
    }
    // Each level in turn. Something already there is fine, except a non-directory at the end
    // (EEXIST); a file in the middle makes the next level fail with ENOTDIR.
    for (let depth = 1; depth <= segments.length; depth++) {
      const prefix = segments.slice(0, depth).join('/')
      try {
        await this.#inFlight.track(this.#ring.mkdir(prefix, { dirFd: this.#rootFd }))
      } catch (error) {
        if (!isT3fsError(error, 'EEXIST')) throw kernelError(error, 'mkdir', prefix, this.name)
        if (depth === segments.length && (await this.stat(prefix)).kind !== 'directory') throw kernelError(error, 'mkdir', prefix, this.name)
      }
    }
  }

  async list(path: string): Promise<DiskDirEntry[]> {
    const where = this.#resolve('list', path)
    try {
      const entries = await readdir(join(this.root, where), { withFileTypes: true })
      const listed = entries.map((entry): DiskDirEntry => ({
        name: entry.name,
        kind: entry.isFile() ? 'file' : entry.isDirectory() ? 'directory' : 'other',
      }))
      return listed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    } catch (error) {
      throw kernelError(error, 'list', path, this.name)
    }
  }

  async stat(path: string): Promise<DiskStat> {
    const where = this.#resolve('stat', path)
    return diskStat(await this.#io('stat', path, this.#ring.statx(where, { dirFd: this.#rootFd, noFollow: true })))
  }

  async rename(from: string, to: string): Promise<void> {
    const source = this.#resolve('rename', from, 'from')
    const target = this.#resolve('rename', to, 'to')
    await this.#io('rename', `${from} -> ${to}`, this.#ring.rename(source, target, { dirFd: this.#rootFd }))
  }

  async unlink(path: string): Promise<void> {
    const where = this.#resolve('unlink', path)
    await this.#io('unlink', path, this.#ring.unlink(where, { dirFd: this.#rootFd }))
  }

  async rmdir(path: string): Promise<void> {
    const where = this.#resolve('rmdir', path)
    await this.#io('rmdir', path, this.#ring.unlink(where, { dirFd: this.#rootFd, directory: true }))
  }

  async syncDir(path: string): Promise<void> {
    const where = this.#resolve('syncDir', path)
    // An O_PATH handle cannot be fsynced: open the directory itself, read-only.
    const fd = await this.#io('syncDir', path, this.#ring.open(where, { dirFd: this.#rootFd, beneath: true, directory: true }))
    try {
      await this.#io('syncDir', path, this.#ring.fsync(fd))
    } finally {
      await this.#ring.close(fd)
    }
  }

  async capacity(): Promise<DiskCapacity> {
    this.#checkOpen('capacity', '')
    try {
      const fs = await statfs(this.root)
      return { totalBytes: fs.blocks * fs.bsize, freeBytes: fs.bavail * fs.bsize }
    } catch (error) {
      throw kernelError(error, 'capacity', '', this.name)
    }
  }

  /**
   * Closes every file still open and, once the operations under way have settled, the root handle.
   * Twice is harmless; every other call then fails with EBADF.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#files].map((file) => file.close()))
      await this.#inFlight.settled()
      await this.#ring.close(this.#rootFd)
    })()
    return this.#closing
  }

  /** @internal UringFileOwner: a closed file leaves the disk's set. */
  forget(file: UringFile): void {
    this.#files.delete(file)
  }

  /** The path relative to the root handle ('.' for the root itself); throws on a bad path or a closed disk. */
  #resolve(op: string, path: string, what = 'path'): string {
    const segments = checkDiskPath(path, what)
    this.#checkOpen(op, path)
    return rel(segments)
  }

  #checkOpen(op: string, path: string): void {
    if (this.#closing !== null) throw diskError('EBADF', `${op} of ${JSON.stringify(path)}: disk ${this.name} is closed`, { op, path })
  }

  async #io<T>(op: string, path: string, pending: Promise<T>): Promise<T> {
    try {
      return await this.#inFlight.track(pending)
    } catch (error) {
      throw kernelError(error, op, path, this.name)
    }
  }
}

function rel(segments: readonly string[]): string {
  return segments.length === 0 ? '.' : segments.join('/')
}
