/**
 * /dev/fuse for the FUSE mount actor (actors/client/fuse/), reached through the runtime so that
 * actors/ never imports native/ (ARCHITECTURE.md: actors → runtime → native).
 *
 * A FuseDevice is one queue of a FUSE connection: the fd opened for the mount, or a clone of it
 * (FUSE_DEV_IOC_CLONE) that another worker host serves. Requests are read on the calling thread's
 * io_uring (the kernel parks the read on the device's poll queue: no libuv thread-pool thread is
 * held while the file system is idle, and many reads can be in flight). Replies are written with
 * write(2) at once (a reply never waits in the kernel); notifications go through the ring's io-wq
 * workers, because the kernel may wait in them for a lock that an unanswered request holds.
 */
import { writeSync } from 'node:fs'
import { mkdir, readFile, stat, statfs, writeFile } from 'node:fs/promises'
import {
  cloneFuseDevice, mountFuse as nativeMount, openFuseDevice, unmountFuse as nativeUnmount, uring, writeFuseDeviceAsync,
  type FuseMountOptions,
} from '../native/index.ts'
import { isT3fsError, T3fsError, toT3fsError } from './errors.ts'

export type { FuseMountOptions } from '../native/index.ts'

export class FuseDevice {
  #closed = false

  private constructor(readonly fd: number, readonly clonedFrom: number | null, private readonly owned = true) {}

  /**
   * The queue `fd` that another thread of this process opened (fds are per process): replies to
   * requests read from it go back on it. Closing it is its owner's business (close() does nothing).
   */
  static borrow(fd: number): FuseDevice {
    return new FuseDevice(fd, null, false)
  }

  /**
   * Opens /dev/fuse for a new mount (pass `fd` to mountFuse). ENOENT/EACCES when FUSE is missing.
   * Non-blocking, as every queue: with queues on several threads two reads may race for one
   * request, and the loser must get EAGAIN (the ring then waits again), not block its thread.
   */
  static open(): FuseDevice {
    return new FuseDevice(openFuseDevice({ nonblocking: true }), null)
  }

  /** A new queue of the connection `master` serves (any thread may serve it). */
  static clone(master: number): FuseDevice {
    return new FuseDevice(cloneFuseDevice(master, { nonblocking: true }), master)
  }

  /**
   * Reads one request into `buffer` (which must hold max_write plus 4 KiB, else EINVAL); resolves
   * to its length. Rejects with ENODEV once the file system is unmounted, ECONNABORTED once the
   * connection is aborted, EINTR/ENOENT when the kernel dropped a request and EAGAIN when another
   * queue took it first: callers read again.
   */
  read(buffer: Uint8Array): Promise<number> {
    return uring().read(this.fd, buffer, 0, buffer.byteLength)
  }

  /**
   * Writes one reply. Returns false when the kernel no longer waits for it (ENOENT: the request
   * was interrupted and answered, or the connection ended), which is not an error of the server.
   */
  reply(buffer: Uint8Array, length: number): boolean {
    try {
      writeSync(this.fd, buffer, 0, length)
      return true
    } catch (error) {
      const code = (error as { code?: string }).code
      if (code === 'ENOENT' || code === 'ENODEV' || code === 'ECONNABORTED') return false
      throw toT3fsError(error)
    }
  }

  /** Writes a notification (unique 0) off this thread; resolves false when the kernel refused it with ENOENT (nothing cached). */
  async notify(buffer: Uint8Array, length: number): Promise<boolean> {
    try {
      await writeFuseDeviceAsync(this.fd, buffer, 0, length)
      return true
    } catch (error) {
      if (isT3fsError(error) && (error.code === 'ENOENT' || error.code === 'ENODEV' || error.code === 'ENOTCONN')) return false
      throw error
    }
  }

  /** Closes the fd (on the ring: node:fs warns about fds it did not open). */
  async close(): Promise<void> {
    if (this.#closed || !this.owned) return
    this.#closed = true
    await uring().close(this.fd)
  }
}

/** mount(2) of a FUSE file system served over `options.fd` (needs CAP_SYS_ADMIN: EPERM otherwise). */
export function mountFuse(options: FuseMountOptions): Promise<void> {
  return nativeMount(options)
}

/** umount2(2); `lazy` detaches at once even while files are open (MNT_DETACH). */
export function unmountFuse(target: string, options: { lazy?: boolean } = {}): Promise<void> {
  return nativeUnmount(target, options)
}

export interface MountEntry {
  /** Where it is mounted (absolute). */
  readonly target: string
  /** The file system type, e.g. `fuse.t3fs`. */
  readonly type: string
  readonly source: string
  /** The device number "major:minor" (a FUSE mount's names its connection and its bdi). */
  readonly device: string
}

/** The mounts of this process's mount namespace at `target` (the last one is on top). */
export async function mountsAt(target: string): Promise<MountEntry[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8')
  const found: MountEntry[] = []
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - type source superoptions
    const [left, right] = line.split(' - ')
    if (right === undefined) continue
    const point = unescapeMountPath(left!.split(' ')[4] ?? '')
    if (point !== target) continue
    const [type = '', source = ''] = right.split(' ')
    found.push({ target: point, type, source: unescapeMountPath(source), device: left!.split(' ')[2] ?? '' })
  }
  return found
}

function unescapeMountPath(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
}

export type MountProbe = 'none' | 'live' | 'stale' | 'other'

/**
 * What sits at `target`: nothing, a live FUSE mount of `type`, a stale one (its server died: the
 * kernel answers ENOTCONN), or a mount of something else. Call it before serving a mount: it
 * asks statfs of the mount point on the thread pool, which would deadlock on a mount this thread
 * serves. statfs, not stat: the kernel answers a stat from its attribute cache without asking the
 * server, so a mount whose server just died would look live until the cached attributes expire.
 */
export async function probeMount(target: string, type: string, timeoutMs = 2_000): Promise<MountProbe> {
  const mounts = await mountsAt(target)
  if (mounts.length === 0) return 'none'
  if (mounts[mounts.length - 1]!.type !== type) return 'other'
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<'hung'>((resolve) => { timer = setTimeout(() => resolve('hung'), timeoutMs) })
  try {
    const outcome = await Promise.race([statfs(target).then(() => 'ok' as const, (error: { code?: string }) => error.code ?? 'error'), timeout])
    if (outcome === 'ok') return 'live'
    if (outcome === 'ENOTCONN' || outcome === 'ECONNABORTED') return 'stale'
    if (outcome === 'hung') {
      throw new T3fsError('ERR_FUSE_MOUNT_HUNG', `${target} is a ${type} mount whose server does not answer (stat waited ${timeoutMs} ms); abort it with \`echo 1 > /sys/fs/fuse/connections/<N>/abort\` or \`umount -l ${target}\``, { target })
    }
    return 'live'
  } finally {
    clearTimeout(timer)
  }
}

/**
 * Makes `target` ready for a new mount of `type`: creates the directory when asked, and unmounts
 * what a killed server left there (a stale mount of `type`). A live mount of `type` is refused
 * (ERR_FUSE_MOUNT_BUSY: another server serves it), as is any other file system mounted there
 * (ERR_FUSE_MOUNT_POINT). Returns whether a stale mount was cleared.
 */
export async function prepareMountPoint(target: string, type: string, options: { create?: boolean } = {}): Promise<{ clearedStale: boolean }> {
  if (options.create) await mkdir(target, { recursive: true }).catch((error: { code?: string }) => { if (error.code !== 'EEXIST' && error.code !== 'ENOTCONN') throw toT3fsError(error) })
  const probe = await probeMount(target, type)
  if (probe === 'live') {
    throw new T3fsError('ERR_FUSE_MOUNT_BUSY', `${target} is already a live ${type} mount (another t3fs serves it); stop that one or pick another mount point`, { target })
  }
  if (probe === 'other') {
    const top = (await mountsAt(target)).at(-1)
    throw new T3fsError('ERR_FUSE_MOUNT_POINT', `${target} already has a ${top?.type ?? 'non-t3fs'} file system mounted on it; unmount it or pick another mount point`, { target })
  }
  if (probe === 'stale') {
    // The server died without unmounting (kill -9): the kernel answers ENOTCONN there until it goes.
    await unmountFuse(target, { lazy: true })
    return { clearedStale: true }
  }
  const info = await stat(target).catch((error: { code?: string }) => {
    throw new T3fsError('ERR_FUSE_MOUNT_POINT', `mount point ${target} ${error.code === 'ENOENT' ? 'does not exist (create it, or set create_mount_point)' : `cannot be used: ${error.code ?? String(error)}`}`, { target })
  })
  if (!info.isDirectory()) throw new T3fsError('ERR_FUSE_MOUNT_POINT', `mount point ${target} is not a directory`, { target })
  return { clearedStale: false }
}

/**
 * Sets the kernel's read-ahead for the FUSE mount at `target` (its bdi's read_ahead_kb; root only).
 * The kernel's default (128 KiB) makes a sequential reader ask for 128-256 KiB at a time; a larger
 * window lets it ask for max_read-sized pieces and keeps several in flight. Call it after INIT was
 * answered: INIT lowers the window to what the server answered there.
 */
export async function setMountReadAhead(target: string, bytes: number): Promise<void> {
  const top = (await mountsAt(target)).at(-1)
  if (top === undefined) throw new T3fsError('ERR_FUSE_NOT_MOUNTED', `${target} is not mounted`, { target })
  await writeFile(`/sys/class/bdi/${top.device}/read_ahead_kb`, `${Math.ceil(bytes / 1024)}\n`).catch((error: unknown) => { throw toT3fsError(error) })
}
