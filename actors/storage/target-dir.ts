/**
 * A storage node's targets on its disk: `<root>/targets/<targetId>/` each, holding `target.json`
 * (what the node knows of the target before the chunk engine opens) and the engine's own files
 * under `engine/`. A target exists once its `target.json` is durable: it is written to a
 * temporary name, synced, renamed, and the directories synced, so a crash leaves it or nothing.
 */
import type { Disk } from '../../runtime/disk/disk.ts'
import { isT3fsError, T3fsError } from '../../runtime/errors.ts'
import { StorageErrorCode } from './protocol.ts'

export interface TargetRecord {
  targetId: number
  /** The chain the admin meant it for (3FS create-target --chain-id); informational, mgmtd's chains rule. */
  chainId: number | null
  createdMs: number
}

const TARGETS = 'targets'
/** A sanity bound on target.json (it holds three numbers). */
const recordBytesMax = 4096

export const targetPath = (root: string, targetId: number): string => `${root}/${TARGETS}/${targetId}`
export const enginePath = (root: string, targetId: number): string => `${targetPath(root, targetId)}/engine`

const exists = async (disk: Disk, path: string): Promise<boolean> =>
  disk.stat(path).then(() => true, (e: unknown) => {
    if (isT3fsError(e) && e.code === 'ENOENT') return false
    throw e
  })

/** The targets on this disk, by id; a directory without a durable target.json is a half-made target and is skipped. */
export async function listTargets(disk: Disk, root: string): Promise<TargetRecord[]> {
  if (!(await exists(disk, `${root}/${TARGETS}`))) return []
  const records: TargetRecord[] = []
  for (const entry of await disk.list(`${root}/${TARGETS}`)) {
    if (entry.kind !== 'directory' || !/^\d+$/.test(entry.name)) continue
    const record = await readRecord(disk, `${root}/${TARGETS}/${entry.name}/target.json`)
    if (record !== null && record.targetId === Number(entry.name)) records.push(record)
  }
  return records.sort((a, b) => a.targetId - b.targetId)
}

async function readRecord(disk: Disk, path: string): Promise<TargetRecord | null> {
  if (!(await exists(disk, path))) return null
  const file = await disk.open(path)
  try {
    const bytes = new Uint8Array(recordBytesMax)
    const n = await file.read(bytes, 0)
    const parsed = JSON.parse(Buffer.from(bytes.subarray(0, n)).toString('utf8')) as TargetRecord
    return Number.isSafeInteger(parsed.targetId) ? parsed : null
  } catch {
    return null // torn or garbage: not a target
  } finally {
    await file.close()
  }
}

/** Creates a target's directory and record, durably; EEXIST-coded error if it exists. */
export async function createTarget(disk: Disk, root: string, record: TargetRecord): Promise<void> {
  const dir = targetPath(root, record.targetId)
  if (await readRecord(disk, `${dir}/target.json`) !== null) {
    throw new T3fsError(StorageErrorCode.TARGET_EXISTS, `target ${record.targetId} already exists on disk ${disk.name} (${dir})`, { targetId: record.targetId })
  }
  await disk.mkdir(`${dir}/engine`, { recursive: true })
  const bytes = Buffer.from(JSON.stringify(record))
  const file = await disk.open(`${dir}/target.json.tmp`, { create: true, truncate: true })
  try {
    await file.write(bytes, 0)
    await file.sync()
  } finally {
    await file.close()
  }
  await disk.rename(`${dir}/target.json.tmp`, `${dir}/target.json`)
  // The record's name, the target's directory and the targets directory itself become durable.
  await disk.syncDir(dir)
  await disk.syncDir(`${root}/${TARGETS}`)
  await disk.syncDir(root)
}

/** Deletes a target: its record first (so a crash midway leaves no target), then everything under it. */
export async function removeTarget(disk: Disk, root: string, targetId: number): Promise<void> {
  const dir = targetPath(root, targetId)
  if (await exists(disk, `${dir}/target.json`)) {
    await disk.unlink(`${dir}/target.json`)
    await disk.syncDir(dir)
  }
  await removeTree(disk, dir)
  await disk.syncDir(`${root}/${TARGETS}`)
}

async function removeTree(disk: Disk, path: string): Promise<void> {
  if (!(await exists(disk, path))) return
  for (const entry of await disk.list(path)) {
    const child = `${path}/${entry.name}`
    if (entry.kind === 'directory') await removeTree(disk, child)
    else await disk.unlink(child)
  }
  await disk.rmdir(path)
}
