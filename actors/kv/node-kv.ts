/**
 * A node's KV as its profile's `[kv]` section describes it. `t3fs launch` resolves that section
 * (backend, path against node.root, cluster_file) and hands it, as plain data, to every actor whose
 * definition declares `needs: ['kv']`; the actor opens it here with its own ctx.clock and
 * ctx.random. Plain settings rather than an open handle, because actors run on worker threads: an
 * lmdb environment is opened per thread and shared through the file system, as LMDB intends.
 * The memory backend gives each opener its own private store (tests only).
 */
import type { Clock } from '../../runtime/clock.ts'
import { invalidOption } from '../../runtime/errors.ts'
import type { Random } from '../../runtime/random.ts'
import type { BackendName, Kv } from './kv.ts'
import { BACKENDS, openKv } from './open-kv.ts'

export interface NodeKvSettings {
  readonly backend: BackendName
  /** Absolute directory of the lmdb environment (the profile's kv.path under node.root). */
  readonly path?: string
  /** FoundationDB cluster file (backend "fdb"). */
  readonly clusterFile?: string
}

/** Checks settings that crossed a thread boundary; names each field as the profile spells it. */
export function checkNodeKvSettings(value: unknown): NodeKvSettings {
  if (typeof value !== 'object' || value === null) throw invalidOption('kv', value, 'the node\'s [kv] settings { backend, path?, clusterFile? }')
  const s = value as Record<string, unknown>
  if (!BACKENDS.includes(s.backend as BackendName)) throw invalidOption('kv.backend', s.backend, BACKENDS.map((b) => JSON.stringify(b)).join(' | '))
  if ((s.backend === 'lmdb' || s.path !== undefined) && (typeof s.path !== 'string' || s.path.length === 0)) {
    throw invalidOption('kv.path', s.path, 'a non-empty directory path')
  }
  if (s.clusterFile !== undefined && (typeof s.clusterFile !== 'string' || s.clusterFile.length === 0)) {
    throw invalidOption('kv.cluster_file', s.clusterFile, 'a path to a FoundationDB cluster file')
  }
  for (const key of Object.keys(s)) {
    if (key !== 'backend' && key !== 'path' && key !== 'clusterFile') throw invalidOption(`kv.${key}`, s[key], 'one of backend, path, clusterFile')
  }
  return { backend: s.backend as BackendName, ...(s.path !== undefined ? { path: s.path as string } : {}), ...(s.clusterFile !== undefined ? { clusterFile: s.clusterFile as string } : {}) }
}

export function openNodeKv(settings: NodeKvSettings, sources: { clock: Clock; random: Random }): Promise<Kv> {
  const s = checkNodeKvSettings(settings)
  switch (s.backend) {
    case 'lmdb':
      return openKv({ backend: 'lmdb', path: s.path as string, ...sources })
    case 'fdb':
      return openKv({ backend: 'fdb', ...sources, ...(s.clusterFile !== undefined ? { clusterFile: s.clusterFile } : {}) })
    case 'memory':
      return openKv({ backend: 'memory', ...sources })
  }
}
