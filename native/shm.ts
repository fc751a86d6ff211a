/**
 * Shared-memory files mapped into this process (native/src/shm.rs): USRBIO regions and rings live
 * in /dev/shm files that another process created; both sides map the same pages, so bytes move
 * between the processes without a copy. Loads through the addon loader of addon.ts.
 */
import { native } from './addon.ts'

interface ShmAddon {
  shmMap(path: string, writable: boolean): ArrayBuffer
  shmCreateSealed(sizeBytes: number): { fd: number; buffer: ArrayBuffer }
  shmClose(fd: number): void
}

/**
 * Maps the whole file at `path` (MAP_SHARED) and returns it as an ArrayBuffer over the mapping,
 * unmapped when the buffer is collected. Errors: the errno name (ENOENT, EACCES, …) with
 * `details.path`; ERR_SHM_SIZE for an empty file or one over 1 TiB.
 */
export function mapSharedFile(path: string, options: { writable?: boolean } = {}): ArrayBuffer {
  return (native() as unknown as ShmAddon).shmMap(path, options.writable ?? true)
}

/**
 * Anonymous shared memory this process owns (a memfd) of `sizeBytes`, its size sealed so no other
 * process can shrink it under this mapping; `fd` stays open until the caller closes it (another
 * process of the same user maps the pages through /proc/<pid>/fd/<fd> meanwhile).
 */
export function createSealedSharedMemory(sizeBytes: number): { fd: number; buffer: ArrayBuffer } {
  return (native() as unknown as ShmAddon).shmCreateSealed(sizeBytes)
}

/** Closes a descriptor createSealedSharedMemory returned. */
export function closeSealedSharedMemory(fd: number): void {
  ;(native() as unknown as ShmAddon).shmClose(fd)
}
