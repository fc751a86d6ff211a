/**
 * A Disk that counts what goes through it: operations, bytes read and written, errors by code and
 * a latency histogram per operation. ActorSystem puts it between `ctx.disk` and the host's disk
 * (UringDisk, or SimDisk in the simulator), so every actor's I/O shows in /metrics.
 */
import { toT3fsError } from '../errors.ts'
import type { Disk, DiskFile } from '../disk/disk.ts'
import type { Metrics } from './metrics.ts'

const diskBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]

export function meteredDisk(disk: Disk, metrics: Metrics): Disk {
  const ops = metrics.counter('t3fs_disk_ops_total', { help: 'disk operations by ctx.disk, per operation', labels: ['op'] })
  const bytes = metrics.counter('t3fs_disk_bytes_total', { help: 'bytes read and written by ctx.disk', labels: ['op'] })
  const errors = metrics.counter('t3fs_disk_errors_total', { help: 'disk operations that failed, per operation and error code', labels: ['op', 'code'] })
  const latency = metrics.histogram('t3fs_disk_op_duration_seconds', { help: 'time from submission to completion of a disk operation, seconds', labels: ['op'], buckets: diskBuckets })
  const time = <T>(op: string, work: () => Promise<T>, countBytes?: (result: T) => number): Promise<T> => {
    const startMs = performance.now()
    const labels = { op }
    ops.inc(labels)
    return work().then(
      (result) => {
        latency.observe(labels, (performance.now() - startMs) / 1000)
        if (countBytes !== undefined) bytes.inc(labels, countBytes(result))
        return result
      },
      (error: unknown) => {
        errors.inc({ op, code: toT3fsError(error).code })
        throw error
      },
    )
  }
  const file = (f: DiskFile): DiskFile => ({
    path: f.path,
    direct: f.direct,
    read: (into, position, length, bufferOffset) => time('read', () => f.read(into, position, length, bufferOffset), (n) => n),
    write: (from, position, length, bufferOffset) => time('write', () => f.write(from, position, length, bufferOffset), (n) => n),
    sync: (options) => time(options?.dataOnly ? 'fdatasync' : 'fsync', () => f.sync(options)),
    allocate: (position, length, options) => time('fallocate', () => f.allocate(position, length, options)),
    punchHole: (position, length) => time('punch_hole', () => f.punchHole(position, length)),
    truncate: (lengthBytes) => time('truncate', () => f.truncate(lengthBytes)),
    stat: () => f.stat(),
    close: () => f.close(),
  })
  return {
    alignment: disk.alignment,
    name: disk.name,
    open: (path, options) => time('open', () => disk.open(path, options)).then(file),
    mkdir: (path, options) => time('mkdir', () => disk.mkdir(path, options)),
    list: (path) => disk.list(path),
    stat: (path) => disk.stat(path),
    rename: (from, to) => time('rename', () => disk.rename(from, to)),
    unlink: (path) => time('unlink', () => disk.unlink(path)),
    rmdir: (path) => time('rmdir', () => disk.rmdir(path)),
    syncDir: (path) => time('sync_dir', () => disk.syncDir(path)),
    capacity: () => disk.capacity(),
  }
}
