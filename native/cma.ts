/**
 * Cross-memory attach (native/src/cma.rs): one copy from another process's memory into ours, for
 * one-sided transfers between nodes on the same machine (the same-host stand-in for RDMA).
 * Loads through the addon loader of addon.ts.
 */
import { native } from './addon.ts'

interface CmaAddon {
  cmaAddress(view: Uint8Array): number
  cmaRead(pid: number, into: Uint8Array, address: number): number
  cmaReadChecked(pid: number, into: Uint8Array, address: number, wordAddress: number): number
}

/**
 * Where `view`'s bytes start in this process. Stable for the life of its buffer only when that
 * buffer is an ArrayBuffer or SharedArrayBuffer the view was made over (not a small typed array
 * that V8 keeps on its heap: make such views over `new ArrayBuffer(n)`).
 */
export function cmaAddress(view: Uint8Array): number {
  return (native() as unknown as CmaAddon).cmaAddress(view)
}

/**
 * Copies `into.byteLength` bytes at `address` in process `pid` into `into`. Throws EPERM/ESRCH
 * (not allowed to read that process, or it is gone), EFAULT (nothing mapped there), ERR_CMA_SHORT
 * (the range is mapped only in part).
 */
export function cmaRead(pid: number, into: Uint8Array, address: number): void {
  ;(native() as unknown as CmaAddon).cmaRead(pid, into, address)
}

/**
 * cmaRead, then the u32 at `wordAddress` in `pid`, in one system call (the word is read after the
 * bytes); returns the word. Same errors.
 */
export function cmaReadChecked(pid: number, into: Uint8Array, address: number, wordAddress: number): number {
  return (native() as unknown as CmaAddon).cmaReadChecked(pid, into, address, wordAddress)
}
