/**
 * Files in /dev/shm shared with other processes (USRBIO regions and rings): create one of a given
 * size, map one (the whole file, MAP_SHARED, as an ArrayBuffer over the pages: no copy), remove
 * one; or make sealed shared memory this process owns and others map by path. The mapping is native (native/src/shm.rs); it lives until the ArrayBuffer is collected.
 */
import { closeSync, ftruncateSync, openSync, unlinkSync } from 'node:fs'
import { closeSealedSharedMemory, createSealedSharedMemory, mapSharedFile as nativeMap } from '../native/shm.ts'
import { T3fsError, toT3fsError } from './errors.ts'

export function mapSharedFile(path: string, options: { writable?: boolean } = {}): ArrayBuffer {
  return nativeMap(path, options)
}

/** Creates `path` (it must not exist: EEXIST otherwise) with `sizeBytes` zero bytes, mode 0600. */
export function createSharedFile(path: string, sizeBytes: number): void {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (error) {
    const e = error as NodeJS.ErrnoException
    throw new T3fsError(e.code ?? 'EIO', `creating ${path}: ${e.message}`, { path }, { cause: error })
  }
  try {
    ftruncateSync(fd, sizeBytes)
  } catch (error) {
    unlinkSync(path)
    throw toT3fsError(error)
  } finally {
    closeSync(fd)
  }
}

/** Removes `path`; a missing file is not an error. */
export function removeSharedFile(path: string): void {
  try {
    unlinkSync(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw toT3fsError(error)
  }
}

/** Shared memory this process owns, its size sealed: others map `path` until `release()` closes it. */
export interface SealedSharedMemory {
  /** /proc/<pid>/fd/<fd>: another process of the same user opens and maps this while it is open. */
  readonly path: string
  readonly buffer: ArrayBuffer
  /** Closes the descriptor (the mapping stays; processes that opened `path` keep theirs). */
  release(): void
}

export function createSealedMemory(sizeBytes: number): SealedSharedMemory {
  const { fd, buffer } = createSealedSharedMemory(sizeBytes)
  let open = true
  return {
    path: `/proc/${process.pid}/fd/${fd}`,
    buffer,
    release() {
      if (open) closeSealedSharedMemory(fd)
      open = false
    },
  }
}
