/**
 * An open file of a UringDisk: every operation is one (or, for short transfers, a few) io_uring
 * operations on the calling thread's ring. Pool memory registered with the ring goes through
 * READ_FIXED/WRITE_FIXED, anything else through READ/WRITE.
 */
import { uring, type Uring } from '../../native/index.ts'
import { invalidOption } from '../errors.ts'
import type { DiskBuffer, DiskFile, DiskStat } from './disk.ts'
import { checkIoRange, diskError } from './disk-path.ts'
import { InFlight } from './in-flight.ts'
import { fixedLocation } from './uring-buffers.ts'
import { kernelError } from './uring-error.ts'
import type { Statx } from '../../native/index.ts'

/**
 * A read or write that comes back short is continued from where it stopped; each step moves at
 * least one byte, and this many steps without finishing means something is wrong (EIO).
 */
export const shortTransferStepsMax = 1024

/** What a file needs of its disk. */
export interface UringFileOwner {
  readonly name: string
  readonly alignment: number
  /** Called once the file is closed (the disk stops tracking it). */
  forget(file: UringFile): void
}

export class UringFile implements DiskFile {
  readonly #ring: Uring = uring()
  readonly #fd: number
  readonly #owner: UringFileOwner
  readonly #inFlight = new InFlight()
  #closing: Promise<void> | null = null

  constructor(fd: number, readonly path: string, readonly direct: boolean, owner: UringFileOwner) {
    this.#fd = fd
    this.#owner = owner
  }

  read(into: DiskBuffer, position: number, length?: number, bufferOffset = 0): Promise<number> {
    // The common case, one ring operation that reads everything, without an async function per layer.
    let bytes: Uint8Array
    let total: number
    let fixed: ReturnType<typeof fixedLocation>
    try {
      this.#checkOpen('read')
      bytes = into instanceof Uint8Array ? into : into.bytes
      total = length ?? bytes.length - bufferOffset
      checkIoRange('read', position, total, bufferOffset, bytes.length, this.direct ? this.#owner : null)
      fixed = fixedLocation(bytes)
    } catch (error) {
      return Promise.reject(error)
    }
    if (total === 0) return this.#inFlight.track(this.#read(into, position, length, bufferOffset))
    const first = fixed === null
      ? this.#ring.read(this.#fd, bytes, position, total, bufferOffset)
      : this.#ring.readFixed(this.#fd, fixed.index, position, total, fixed.offset + bufferOffset)
    // Counted in flight from the one reaction the read has anyway (begin/end, not track's own).
    this.#inFlight.begin()
    return first.then(
      (n) => {
        if (n === total || n === 0 || (this.direct && n % this.#owner.alignment !== 0)) {
          this.#inFlight.end()
          return n
        }
        return this.#readRest(bytes, fixed, position, total, bufferOffset, n).finally(this.#endOne)
      },
      (error: unknown) => {
        this.#inFlight.end()
        throw kernelError(error, 'read', this.path, this.#owner.name)
      },
    )
  }

  readonly #endOne = (): void => this.#inFlight.end()

  write(from: DiskBuffer, position: number, length?: number, bufferOffset = 0): Promise<number> {
    return this.#inFlight.track(this.#write(from, position, length, bufferOffset))
  }

  sync(options: { readonly dataOnly?: boolean } = {}): Promise<void> {
    return this.#inFlight.track(this.#op('sync', () => this.#ring.fsync(this.#fd, { datasync: options.dataOnly === true })))
  }

  allocate(position: number, length: number, options: { readonly keepSize?: boolean } = {}): Promise<void> {
    return this.#inFlight.track(this.#op('allocate', () => {
      checkSpan(position, length)
      return this.#ring.fallocate(this.#fd, position, length, { keepSize: options.keepSize === true })
    }))
  }

  punchHole(position: number, length: number): Promise<void> {
    return this.#inFlight.track(this.#op('punchHole', () => {
      checkSpan(position, length)
      return this.#ring.fallocate(this.#fd, position, length, { punchHole: true })
    }))
  }

  truncate(lengthBytes: number): Promise<void> {
    return this.#inFlight.track(this.#op('truncate', () => {
      if (!Number.isSafeInteger(lengthBytes) || lengthBytes < 0) throw invalidOption('lengthBytes', lengthBytes, 'an integer ≥ 0')
      return this.#ring.truncate(this.#fd, lengthBytes)
    }))
  }

  async stat(): Promise<DiskStat> {
    return diskStat(await this.#inFlight.track(this.#op('stat', () => this.#ring.fstat(this.#fd))))
  }

  /** Closing twice (or while a close is under way) returns the same close; it waits for operations under way. */
  close(): Promise<void> {
    this.#closing ??= this.#inFlight.settled()
      .then(() => this.#io('close', this.#ring.close(this.#fd)))
      .finally(() => this.#owner.forget(this))
    return this.#closing
  }

  async #read(into: DiskBuffer, position: number, length: number | undefined, bufferOffset: number): Promise<number> {
    this.#checkOpen('read')
    const bytes = into instanceof Uint8Array ? into : into.bytes
    const total = length ?? bytes.length - bufferOffset
    checkIoRange('read', position, total, bufferOffset, bytes.length, this.direct ? this.#owner : null)
    return this.#readRest(bytes, fixedLocation(bytes), position, total, bufferOffset, 0)
  }

  /** Reads on from `done` bytes (a short read is continued where it stopped). */
  async #readRest(bytes: Uint8Array, fixed: ReturnType<typeof fixedLocation>, position: number, total: number, bufferOffset: number, done: number): Promise<number> {
    for (let step = 1; done < total; step++) {
      if (step === shortTransferStepsMax) throw this.#stalled('read', position, total, done)
      const n = await this.#io('read', fixed === null
        ? this.#ring.read(this.#fd, bytes, position + done, total - done, bufferOffset + done)
        : this.#ring.readFixed(this.#fd, fixed.index, position + done, total - done, fixed.offset + bufferOffset + done))
      if (n === 0) break // end of file
      done += n
      // A direct read that stops inside a block stopped at the end of the file (and could not go on: unaligned).
      if (this.direct && done % this.#owner.alignment !== 0) break
    }
    return done
  }

  async #write(from: DiskBuffer, position: number, length: number | undefined, bufferOffset: number): Promise<number> {
    this.#checkOpen('write')
    const bytes = from instanceof Uint8Array ? from : from.bytes
    const total = length ?? bytes.length - bufferOffset
    checkIoRange('write', position, total, bufferOffset, bytes.length, this.direct ? this.#owner : null)
    const fixed = fixedLocation(bytes)
    let done = 0
    for (let step = 0; done < total; step++) {
      if (step === shortTransferStepsMax) throw this.#stalled('write', position, total, done)
      const n = await this.#io('write', fixed === null
        ? this.#ring.write(this.#fd, bytes, position + done, total - done, bufferOffset + done)
        : this.#ring.writeFixed(this.#fd, fixed.index, position + done, total - done, fixed.offset + bufferOffset + done))
      if (n === 0) throw this.#stalled('write', position, total, done)
      done += n
    }
    return total
  }

  /** One ring operation: EBADF once closed, arguments checked by `start`, kernel errors restated. */
  async #op<T>(op: string, start: () => Promise<T>): Promise<T> {
    this.#checkOpen(op)
    return this.#io(op, start())
  }

  #checkOpen(op: string): void {
    if (this.#closing !== null) throw diskError('EBADF', `${op} of ${JSON.stringify(this.path)} on disk ${this.#owner.name}: the file is closed`, { op, path: this.path })
  }

  async #io<T>(op: string, pending: Promise<T>): Promise<T> {
    try {
      return await pending
    } catch (error) {
      throw kernelError(error, op, this.path, this.#owner.name)
    }
  }

  #stalled(op: 'read' | 'write', position: number, length: number, done: number): Error {
    return diskError('EIO', `${op} of ${length} bytes at ${position} in ${JSON.stringify(this.path)} on disk ${this.#owner.name} stalled after ${done} bytes`,
      { op, path: this.path, position, length, done })
  }
}

/** fallocate's range: a position ≥ 0 and a length ≥ 1 (the kernel refuses an empty range). */
function checkSpan(position: number, length: number): void {
  if (!Number.isSafeInteger(position) || position < 0) throw invalidOption('position', position, 'an integer ≥ 0')
  if (!Number.isSafeInteger(length) || length < 1) throw invalidOption('length', length, 'an integer ≥ 1')
}

export function diskStat(st: Statx): DiskStat {
  return {
    kind: st.kind === 'file' || st.kind === 'directory' ? st.kind : 'other',
    sizeBytes: st.sizeBytes,
    allocatedBytes: st.allocatedBytes,
    mtimeMs: st.mtimeMs,
  }
}
