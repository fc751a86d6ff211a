/** Validation shared by every Disk: paths and direct-I/O alignment, with the errors both give. */
import { T3fsError } from '../errors.ts'
import { diskPathBytesMax } from './disk.ts'

const accepted = `'' (the root) or '/'-separated names relative to the disk's root, without '.', '..', empty names or NUL, at most ${diskPathBytesMax} bytes`

/** Returns the path's segments ([] for the root); throws ERR_INVALID_PATH naming what is accepted. */
export function checkDiskPath(path: string, what = 'path'): string[] {
  if (typeof path !== 'string') throw invalidPath(what, path)
  if (path === '') return []
  if (Buffer.byteLength(path) > diskPathBytesMax || path.includes('\0')) throw invalidPath(what, path)
  const segments = path.split('/')
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') throw invalidPath(what, path)
  }
  return segments
}

function invalidPath(what: string, path: unknown): T3fsError {
  const shown = typeof path === 'string' ? JSON.stringify(path.length > 200 ? `${path.slice(0, 197)}...` : path) : String(path)
  return new T3fsError('ERR_INVALID_PATH', `${what} ${shown} is not a disk path; accepted: ${accepted}`, { path: shown, accepted })
}

/** An errno-coded error, as UringDisk reports the kernel's and SimDisk reports its own. */
export function diskError(code: string, message: string, details: Record<string, unknown> = {}): T3fsError {
  return new T3fsError(code, `${code}: ${message}`, details)
}

/** Checks one I/O's numbers: integers in range; with direct I/O, aligned (EINVAL as O_DIRECT gives). */
export function checkIoRange(
  op: 'read' | 'write',
  position: number,
  length: number,
  bufferOffset: number,
  bufferLength: number,
  direct: { readonly alignment: number } | null,
): void {
  if (!Number.isSafeInteger(position) || position < 0) throw ioOption('position', position, 'an integer ≥ 0')
  if (!Number.isSafeInteger(bufferOffset) || bufferOffset < 0 || bufferOffset > bufferLength) {
    throw ioOption('bufferOffset', bufferOffset, `an integer from 0 to the buffer's length (${bufferLength})`)
  }
  if (!Number.isSafeInteger(length) || length < 0 || bufferOffset + length > bufferLength) {
    throw ioOption('length', length, `an integer from 0 to ${bufferLength - bufferOffset} (the buffer's length after bufferOffset)`)
  }
  if (direct === null) return
  const a = direct.alignment
  if (position % a !== 0 || length % a !== 0 || bufferOffset % a !== 0) {
    throw diskError('EINVAL', `direct ${op} of ${length} bytes at position ${position} (buffer offset ${bufferOffset}) is not aligned to ${a} bytes`, {
      position, length, bufferOffset, alignment: a,
    })
  }
}

function ioOption(name: string, value: number, acceptedText: string): T3fsError {
  return new T3fsError('ERR_INVALID_OPTION', `option ${name} is ${String(value)}; accepted: ${acceptedText}`, { option: name, value, accepted: acceptedText })
}
