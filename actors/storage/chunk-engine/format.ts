/**
 * The engine's directory and its `format` file: the values fixed at creation (checksum segment
 * size, group size, files per class), which every later open must use, since they decide where
 * blocks are and how checksums are cut.
 *
 *   <root>/format               JSON, then a line with its CRC32C; written atomically
 *   <root>/index/               log segments and snapshots (index-log.ts, snapshot.ts)
 *   <root>/blocks/<class>/<nn>  group files (block-allocator.ts)
 */
import { crc32c } from '../../../runtime/checksum.ts'
import type { Disk } from '../../../runtime/disk/disk.ts'
import { invalidOption, isT3fsError } from '../../../runtime/errors.ts'
import { classDirName } from './block-allocator.ts'
import type { ChunkEngineFormat } from './engine.ts'
import { chunkEngineError, ChunkEngineErrorCode } from './errors.ts'
import {
  blockBytesMin, checksumSegmentBytesDefault, checksumSegmentBytesMax, checksumSegmentBytesMin, filesPerClassDefault,
  filesPerClassMax, groupBytesMaxDefault, sizeClassCount,
} from './limits.ts'
import { again } from './recovery.ts'
import { readWhole } from './snapshot.ts'

const magic = 't3fs-chunk-engine'
const formatVersion = 1
/** Groups of at most 4 GiB (a group's byte range in its file must stay a safe, small integer). */
const groupBytesLimit = 4 * 1024 ** 3

export function join(root: string, name: string): string {
  return root === '' ? name : `${root}/${name}`
}

/** Checks given format values (those not given take their defaults). */
export function checkFormat(given: Partial<ChunkEngineFormat> | undefined, alignment: number): ChunkEngineFormat {
  if (given !== undefined && (given === null || typeof given !== 'object')) throw invalidOption('format', given, 'an object { checksumSegmentBytes?, groupBytesMax?, filesPerClass? }')
  const segment = given?.checksumSegmentBytes ?? checksumSegmentBytesDefault
  const low = Math.max(checksumSegmentBytesMin, alignment)
  if (!Number.isInteger(segment) || segment < low || segment > checksumSegmentBytesMax || (segment & (segment - 1)) !== 0) {
    throw invalidOption('format.checksumSegmentBytes', segment, `a power of two from ${low} (and the disk's alignment) to ${checksumSegmentBytesMax}`)
  }
  const group = given?.groupBytesMax ?? groupBytesMaxDefault
  if (!Number.isInteger(group) || group < blockBytesMin || group > groupBytesLimit) {
    throw invalidOption('format.groupBytesMax', group, `an integer from ${blockBytesMin} to ${groupBytesLimit}`)
  }
  const files = given?.filesPerClass ?? filesPerClassDefault
  if (!Number.isInteger(files) || files < 1 || files > filesPerClassMax) throw invalidOption('format.filesPerClass', files, `an integer from 1 to ${filesPerClassMax}`)
  return { checksumSegmentBytes: segment, groupBytesMax: group, filesPerClass: files }
}

/** The stored format; creates the engine's directories and format when absent and `create` is set. */
export async function loadOrCreateFormat(disk: Disk, root: string, create: boolean, given: Partial<ChunkEngineFormat> | undefined): Promise<ChunkEngineFormat> {
  const wanted = checkFormat(given, disk.alignment)
  const path = join(root, 'format')
  let stored: ChunkEngineFormat
  try {
    stored = await again(async () => parseFormat(new TextDecoder().decode(await readWhole(disk, path)), path))
  } catch (error) {
    if (!isT3fsError(error, 'ENOENT') && !isT3fsError(error, 'ENOTDIR')) throw error
    if (!create) throw chunkEngineError(ChunkEngineErrorCode.engineNotFound, `no chunk engine at ${JSON.stringify(root)} on ${disk.name} (open with create: true to make one)`, { root, disk: disk.name })
    await createEngineDirs(disk, root)
    await writeFormat(disk, root, wanted)
    return wanted
  }
  for (const key of Object.keys(given ?? {}) as Array<keyof ChunkEngineFormat>) {
    if (given![key] !== undefined && given![key] !== stored[key]) {
      throw chunkEngineError(ChunkEngineErrorCode.formatMismatch, `the chunk engine at ${JSON.stringify(root)} was created with format.${key} = ${stored[key]}, not ${given![key]} (the format is fixed at creation)`, {
        root, field: `format.${key}`, stored: stored[key], given: given![key],
      })
    }
  }
  return stored
}

function parseFormat(text: string, path: string): ChunkEngineFormat {
  const newline = text.lastIndexOf('\n', text.length - 2)
  const json = text.slice(0, newline)
  const crc = Number.parseInt(text.slice(newline + 1), 16)
  let value: { magic?: unknown; version?: unknown } & Partial<ChunkEngineFormat>
  try {
    if (newline < 0 || crc !== crc32c(new TextEncoder().encode(json))) throw new Error('CRC32C mismatch')
    value = JSON.parse(json) as typeof value
    if (value.magic !== magic || value.version !== formatVersion) throw new Error(`magic ${String(value.magic)} version ${String(value.version)}`)
    return checkFormat(value, 1)
  } catch (error) {
    throw chunkEngineError(ChunkEngineErrorCode.indexCorrupt, `${path} is not a chunk engine format file (${error instanceof Error ? error.message : String(error)})`, { path })
  }
}

/** Makes `root` and its subdirectories, each name made durable by syncing the directory above it. */
async function createEngineDirs(disk: Disk, root: string): Promise<void> {
  await disk.mkdir(join(root, 'blocks'), { recursive: true })
  await disk.mkdir(join(root, 'index'), { recursive: true })
  for (let c = 0; c < sizeClassCount; c++) await disk.mkdir(join(root, `blocks/${classDirName(c)}`), { recursive: true })
  await disk.syncDir(join(root, 'blocks'))
  const segments = root === '' ? [] : root.split('/')
  for (let depth = segments.length; depth >= 0; depth--) await disk.syncDir(segments.slice(0, depth).join('/'))
}

async function writeFormat(disk: Disk, root: string, format: ChunkEngineFormat): Promise<void> {
  const json = JSON.stringify({ magic, version: formatVersion, ...format })
  const bytes = new TextEncoder().encode(`${json}\n${crc32c(new TextEncoder().encode(json)).toString(16)}\n`)
  const tmp = join(root, 'format.tmp')
  const file = await disk.open(tmp, { create: true, truncate: true })
  try {
    await file.write(bytes, 0)
    await file.sync()
  } finally {
    await file.close()
  }
  await disk.rename(tmp, join(root, 'format'))
  await disk.syncDir(root)
}
