/**
 * `t3fs://` paths for smallpond: `t3fs://<clusterId>/<path>` (or `t3fs:///<path>` for the only
 * t3fs cluster mounted here) names `<path>` inside t3fs and resolves to the same path under this
 * machine's FUSE mount of that cluster (its fsname is `t3fs.<clusterId>`).
 *
 * Why through the mount and not the FileClient directly: DuckDB opens, reads, writes, fsyncs,
 * truncates and renames its files itself with POSIX calls, and its Node binding offers no hook for
 * a user file system, so every byte DuckDB touches must reach t3fs through a kernel path. The
 * mount is that path, and it is itself a FileClient (write-behind, read-ahead) in the mount's
 * process: staging through local temp files instead would copy every shuffle file twice and keep
 * the job dir (checkpoints, .STATUS) off t3fs. A program without a mount gets a clear error.
 */
import { readFileSync } from 'node:fs'
import { join, normalize } from 'node:path'
import { smallpondError } from './errors.ts'

export const T3FS_SCHEME = 't3fs://'
export const ERR_T3FS_NOT_MOUNTED = 'ERR_SMALLPOND_T3FS_NOT_MOUNTED'
export const ERR_T3FS_URL = 'ERR_SMALLPOND_T3FS_URL'

export interface T3fsMount {
  readonly clusterId: string
  readonly mountPoint: string
}

export function isT3fsUrl(path: unknown): path is string {
  return typeof path === 'string' && path.startsWith(T3FS_SCHEME)
}

/** The t3fs FUSE mounts listed in a mountinfo text (`/proc/self/mountinfo`). */
export function t3fsMounts(mountinfo: string): T3fsMount[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
  const mounts: T3fsMount[] = []
  for (const line of mountinfo.split('\n')) {
    // id parent major:minor root mountpoint options [optional...] - type source superoptions
    const [left, right] = line.split(' - ')
    if (right === undefined) continue
    const [type = '', source = ''] = right.split(' ')
    if (type !== 'fuse.t3fs' || !source.startsWith('t3fs.')) continue
    mounts.push({ clusterId: unescape(source.slice('t3fs.'.length)), mountPoint: unescape(left!.split(' ')[4] ?? '') })
  }
  return mounts
}

/** `t3fs://cluster/a/b` → `{mount}/a/b`; other paths are returned as they are. */
export function resolveT3fsPath(path: string, mounts: readonly T3fsMount[], field: string): string {
  if (!isT3fsUrl(path)) return path
  const rest = path.slice(T3FS_SCHEME.length)
  const slash = rest.indexOf('/')
  const clusterId = slash < 0 ? rest : rest.slice(0, slash)
  // Normalized from the root: ".." cannot climb out of the mount.
  const inner = normalize(`/${slash < 0 ? '' : rest.slice(slash + 1)}`)
  if (!/^[A-Za-z0-9._-]*$/.test(clusterId)) {
    throw smallpondError(ERR_T3FS_URL, `smallpond: ${field} is ${JSON.stringify(path)}; accepted: t3fs://<clusterId>/<path> with a cluster id of letters, digits, ".", "_" and "-"`, { field, value: path })
  }
  const found = mounts.filter((m) => clusterId === '' || m.clusterId === clusterId)
  const clusters = new Set(found.map((m) => m.clusterId))
  if (found.length === 0 || clusters.size > 1) {
    const listed = mounts.map((m) => `t3fs.${m.clusterId} at ${m.mountPoint}`).join(', ') || 'none'
    const what = found.length === 0 ? `no t3fs mount of ${clusterId === '' ? 'any cluster' : `cluster ${JSON.stringify(clusterId)}`} on this machine`
      : `several t3fs clusters are mounted; name one: t3fs://<clusterId>/…`
    throw smallpondError(ERR_T3FS_NOT_MOUNTED,
      `smallpond: ${field} is ${JSON.stringify(path)}: ${what} (mounts: ${listed}); accepted: a t3fs:// path of a mounted cluster ` +
      '(DuckDB reaches t3fs through the FUSE mount: npm start, or t3fs launch of a profile with the fuse actor, as root), or a plain path',
      { field, value: path, mounts: listed })
  }
  return inner === '/' ? found[0].mountPoint : join(found[0].mountPoint, inner)
}

/** Reads this process's mounts (Linux); none where there is no /proc. */
export function currentT3fsMounts(): T3fsMount[] {
  try {
    return t3fsMounts(readFileSync('/proc/self/mountinfo', 'utf8'))
  } catch {
    return []
  }
}
