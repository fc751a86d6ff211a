/**
 * Open files and directories of the mount, by the `fh` the kernel carries in every request on
 * them: a FileClient handle for a file, a directory stream for a directory. Bounded by
 * HANDLES_MAX (one more open is refused with ENFILE).
 */
import { T3fsError } from '../../../runtime/errors.ts'
import type { FileHandle } from '../file-client.ts'
import type { DirStream } from './dir-stream.ts'

export const HANDLES_MAX = 1 << 20

export interface OpenFile {
  readonly kind: 'file'
  readonly nodeid: bigint
  readonly handle: FileHandle
  readonly writable: boolean
  /** Written through this handle since the last FLUSH (FLUSH then waits for storage). */
  dirty: boolean
}

export interface OpenDir {
  readonly kind: 'dir'
  readonly nodeid: bigint
  readonly stream: DirStream
}

export class Handles {
  readonly #open = new Map<bigint, OpenFile | OpenDir>()
  /** Write handles per node id (the revalidator leaves files this mount writes alone). */
  readonly #writers = new Map<bigint, number>()
  /** Open files per node id. */
  readonly #byNode = new Map<bigint, Set<bigint>>()
  #next = 1n

  get size(): number {
    return this.#open.size
  }

  add(entry: OpenFile | OpenDir): bigint {
    if (this.#open.size >= HANDLES_MAX) throw new T3fsError('ENFILE', `ENFILE: the mount has ${HANDLES_MAX} open files and directories`, { errno: 23 })
    const fh = this.#next++
    this.#open.set(fh, entry)
    if (entry.kind === 'file') {
      let set = this.#byNode.get(entry.nodeid)
      if (set === undefined) this.#byNode.set(entry.nodeid, (set = new Set()))
      set.add(fh)
      if (entry.writable) this.#writers.set(entry.nodeid, (this.#writers.get(entry.nodeid) ?? 0) + 1)
    }
    return fh
  }

  file(fh: bigint): OpenFile {
    const entry = this.#open.get(fh)
    if (entry?.kind !== 'file') throw new T3fsError('EBADF', `EBADF: no open file has handle ${fh}`, { errno: 9 })
    return entry
  }

  dir(fh: bigint): OpenDir {
    const entry = this.#open.get(fh)
    if (entry?.kind !== 'dir') throw new T3fsError('EBADF', `EBADF: no open directory has handle ${fh}`, { errno: 9 })
    return entry
  }

  /** An open file of `nodeid` (its unflushed length is the one to report), if any. */
  anyFileOf(nodeid: bigint): OpenFile | undefined {
    const set = this.#byNode.get(nodeid)
    if (set === undefined) return undefined
    let found: OpenFile | undefined
    for (const fh of set) {
      const entry = this.#open.get(fh) as OpenFile
      if (entry.writable) return entry
      found ??= entry
    }
    return found
  }

  isWritten(nodeid: bigint): boolean {
    return this.#writers.has(nodeid)
  }

  remove(fh: bigint): OpenFile | OpenDir | undefined {
    const entry = this.#open.get(fh)
    if (entry === undefined) return undefined
    this.#open.delete(fh)
    if (entry.kind !== 'file') return entry
    const set = this.#byNode.get(entry.nodeid)
    set?.delete(fh)
    if (set?.size === 0) this.#byNode.delete(entry.nodeid)
    if (entry.writable) {
      const left = (this.#writers.get(entry.nodeid) ?? 1) - 1
      if (left === 0) this.#writers.delete(entry.nodeid)
      else this.#writers.set(entry.nodeid, left)
    }
    return entry
  }

  files(): OpenFile[] {
    return [...this.#open.values()].filter((e): e is OpenFile => e.kind === 'file')
  }
}
