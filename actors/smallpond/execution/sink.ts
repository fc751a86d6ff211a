/**
 * DataSinkNode execution: link, copy, link_or_copy (staged, then published with conflict-free
 * names) and manifest. Row ranges are written out as their own files, never linked whole.
 */
import { copyFile, link, mkdir, readdir, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { basename, extname, join } from 'node:path'
import type { DuckDBConnection } from '@duckdb/node-api'
import { type DataSetSpec, type FileEntry, isFileSpec, mergeDataSets, parquetOf } from '../logical/dataset.ts'
import { MANIFEST_FILENAME, type DataSinkType } from '../logical/nodes/data-sink-node.ts'
import { invalidArgument } from '../errors.ts'
import { quoteLiteral } from './sql-template.ts'

type Mode = 'link' | 'copy' | 'link_or_copy'

async function place(conn: DuckDBConnection, entry: FileEntry, dst: string, mode: Mode): Promise<void> {
  if (entry.begin !== undefined || entry.end !== undefined) {
    const end = entry.end === undefined ? '' : ` and file_row_number < ${entry.end}`
    await conn.run(`copy (select * exclude (file_row_number) from read_parquet(${quoteLiteral(entry.path)}, file_row_number=true) ` +
      `where file_row_number >= ${entry.begin ?? 0}${end}) to ${quoteLiteral(dst)} (format parquet, compression zstd)`)
    return
  }
  if (mode === 'copy') return copyFile(entry.path, dst)
  try {
    await link(entry.path, dst)
  } catch {
    // Across mount points a hard link fails: symlink for link, copy for link_or_copy.
    if (mode === 'link') await symlink(entry.path, dst)
    else await copyFile(entry.path, dst)
  }
}

function filesOf(inputs: readonly DataSetSpec[]): FileEntry[] {
  const out: FileEntry[] = []
  for (const spec of inputs) {
    if (spec.kind === 'partitioned') out.push(...filesOf(spec.datasets))
    else if (isFileSpec(spec)) out.push(...spec.files)
    else throw invalidArgument('sink input', spec.kind, 'file datasets')
  }
  return out
}

/** Basenames made unique: a colliding `name.ext` becomes `name.{k}.ext` for its k-th occurrence. */
export function conflictFreeNames(paths: readonly string[]): string[] {
  const counts = new Map<string, number>()
  for (const p of paths) counts.set(basename(p), (counts.get(basename(p)) ?? 0) + 1)
  const seen = new Map<string, number>()
  return paths.map((p) => {
    const name = basename(p)
    if (counts.get(name) === 1) return name
    const k = seen.get(name) ?? 0
    seen.set(name, k + 1)
    const ext = extname(name)
    return `${name.slice(0, name.length - ext.length)}.${k}${ext}`
  })
}

function outputSpec(inputs: readonly DataSetSpec[], paths: string[]): DataSetSpec {
  const first = inputs.find((s) => s.kind !== 'partitioned') ?? inputs[0]
  if (first && first.kind === 'parquet') return { ...parquetOf(paths), columns: undefined }
  return { kind: 'fileset', files: paths.map((path) => ({ path })) }
}

async function writeManifest(dir: string, paths: readonly string[]): Promise<void> {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, MANIFEST_FILENAME), paths.map((p) => `${p}\n`).join(''))
}

/** Phase 1 of copy/link_or_copy: place one input partition's files under `{path}/.staging/{stageId}`. */
export async function stageSink(conn: DuckDBConnection, inputs: readonly DataSetSpec[], path: string, mode: 'copy' | 'link_or_copy',
  stageId: string): Promise<DataSetSpec> {
  const files = filesOf(inputs)
  const dir = join(path, '.staging', stageId)
  await rm(dir, { recursive: true, force: true })
  await mkdir(dir, { recursive: true })
  const names = conflictFreeNames(files.map((f) => f.path))
  const placed: string[] = []
  for (let i = 0; i < files.length; i++) {
    const dst = join(dir, names[i])
    await place(conn, files[i], dst, mode)
    placed.push(dst)
  }
  return outputSpec(inputs, placed)
}

/** The final sink task: publish into `path` and write `.MANIFEST.txt`. */
export async function finishSink(conn: DuckDBConnection, inputs: readonly DataSetSpec[], path: string, type: DataSinkType,
  staged: boolean): Promise<DataSetSpec> {
  const files = filesOf(inputs)
  if (type === 'manifest') {
    await writeManifest(path, files.map((f) => f.path))
    return inputs.length === 1 ? inputs[0] : mergeDataSets(inputs.filter((s) => s.kind !== 'partitioned'))
  }
  await mkdir(path, { recursive: true })
  const existing = new Set((await readdir(path)).filter((n) => n !== '.staging'))
  const names = conflictFreeNames(files.map((f) => f.path)).map((n) => uniqueAgainst(n, existing))
  const published: string[] = []
  for (let i = 0; i < files.length; i++) {
    const dst = join(path, names[i])
    if (staged) await rename(files[i].path, dst)
    else await place(conn, files[i], dst, 'link')
    published.push(dst)
  }
  if (staged) await rm(join(path, '.staging'), { recursive: true, force: true })
  await writeManifest(path, published)
  return outputSpec(inputs, published)
}

function uniqueAgainst(name: string, existing: Set<string>): string {
  let candidate = name
  const ext = extname(name)
  for (let k = 1; existing.has(candidate); k++) candidate = `${name.slice(0, name.length - ext.length)}.${k}${ext}`
  existing.add(candidate)
  return candidate
}
