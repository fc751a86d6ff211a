/**
 * The LRU/TTL picture of a cache tree, from the files' attributes: one readdir per fan-out
 * directory, the leaves with their stats (readdirplus). Temporary files of puts are listed apart
 * (by path): the GC deletes those it keeps seeing, whose writer died before its rename.
 */
import type { FileClient } from '../client/file-client.ts'
import { fanoutName, tempPrefix } from './kv-layout.ts'
import type { BlockEntry } from './lru-index.ts'
import { runLimited } from './run-limited.ts'

/** Directories listed at once while rebuilding. */
const listConcurrencyMax = 16

async function subdirs(client: FileClient, dir: string): Promise<string[]> {
  const entries = await client.readdirAll(dir === '' ? '/' : dir)
  return entries.filter((e) => e.type === 'directory' && fanoutName.test(e.name)).map((e) => `${dir}/${e.name}`)
}

export interface TreeListing {
  readonly blocks: (readonly [string, BlockEntry])[]
  /** Paths of temporary files (puts in progress, or abandoned by a writer that died). */
  readonly temps: string[]
}

export async function listTree(client: FileClient, root: string): Promise<TreeListing> {
  const level1 = await subdirs(client, root)
  const leaves = (await runLimited(level1, listConcurrencyMax, (d) => subdirs(client, d))).flat()
  const listed = await runLimited(leaves, listConcurrencyMax, (d) => client.readdirAll(d, { withStat: true }))
  const out: (readonly [string, BlockEntry])[] = []
  const temps: string[] = []
  for (const [i, entries] of listed.entries()) {
    for (const e of entries) {
      if (e.type === 'file' && e.name.startsWith(tempPrefix)) temps.push(`${leaves[i]}/${e.name}`)
      if (e.type !== 'file' || e.name.startsWith(tempPrefix) || e.stat == null) continue
      const st = e.stat
      out.push([e.name, { sizeBytes: st.sizeBytes, putAtMs: st.mtimeMs, accessAtMs: Math.max(st.atimeMs, st.mtimeMs), persistedAccessMs: st.atimeMs }])
    }
  }
  return { blocks: out, temps }
}
