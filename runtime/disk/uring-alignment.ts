/**
 * What O_DIRECT requires on a UringDisk: the larger of statx's DIOALIGN memory and offset
 * alignments for a regular file there, else the device's logical block size from sysfs, else 4096.
 *
 * DIOALIGN is reported for regular files only (not for the root directory), so the probe is an
 * O_TMPFILE in the root: unnamed, never visible in a listing, gone when closed.
 */
import { readFile } from 'node:fs/promises'
import type { Uring } from '../../native/index.ts'

/** When neither the kernel nor sysfs says: the largest logical block size in common use. */
export const alignmentFallbackBytes = 4096

export async function probeAlignment(ring: Uring, rootFd: number): Promise<number> {
  const fromStatx = await dioAlign(ring, rootFd)
  if (fromStatx !== null) return fromStatx
  const root = await ring.statx('.', { dirFd: rootFd })
  return (await logicalBlockSize(root.deviceMajor, root.deviceMinor)) ?? alignmentFallbackBytes
}

async function dioAlign(ring: Uring, rootFd: number): Promise<number | null> {
  let fd: number
  try {
    fd = await ring.open('.', { dirFd: rootFd, tmpfile: true, mode: 0o600 })
  } catch {
    return null // no O_TMPFILE here (or a read-only root): ask sysfs
  }
  try {
    const st = await ring.fstat(fd, { dioAlign: true })
    if (st.dioOffsetAlign === null || st.dioMemAlign === null) return null
    return Math.max(st.dioOffsetAlign, st.dioMemAlign)
  } finally {
    await ring.close(fd)
  }
}

/** /sys/dev/block/M:m/queue/logical_block_size; a partition has it on its parent device. */
async function logicalBlockSize(major: number, minor: number): Promise<number | null> {
  for (const path of [`/sys/dev/block/${major}:${minor}/queue/logical_block_size`, `/sys/dev/block/${major}:${minor}/../queue/logical_block_size`]) {
    try {
      const value = Number((await readFile(path, 'utf8')).trim())
      if (Number.isSafeInteger(value) && value > 0) return value
    } catch {
      // not this one
    }
  }
  return null
}
