/**
 * A Disk that counts what goes through it: operations, bytes read and written, errors by code and
 * a latency histogram per operation. ActorSystem puts it between `ctx.disk` and the host's disk
 * (UringDisk, or SimDisk in the simulator), so every actor's I/O shows in /metrics.
 */
import { toT3fsError } from '../errors.ts'
import type { Disk, DiskFile } from '../disk/disk.ts'
import { CounterCells, HistogramCells, type CounterCell, type HistogramCell } from './cells.ts'
import type { MetricsRegistry } from './registry.ts'

const diskBuckets = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5]

/** Bytes a read or write moved: what it resolved to. */
const transferred = (n: number): number => n

interface OpCells { readonly ops: CounterCell; readonly bytes: CounterCell; readonly latency: HistogramCell }

export function meteredDisk(disk: Disk, metrics: MetricsRegistry): Disk {
  const ops = new CounterCells(metrics, 't3fs_disk_ops_total', 'disk operations by ctx.disk, per operation', ['op'])
  const bytes = new CounterCells(metrics, 't3fs_disk_bytes_total', 'bytes read and written by ctx.disk', ['op'])
  const errors = metrics.counter('t3fs_disk_errors_total', { help: 'disk operations that failed, per operation and error code', labels: ['op', 'code'] })
  const latency = new HistogramCells(metrics, 't3fs_disk_op_duration_seconds', 'time from submission to completion of a disk operation, seconds', ['op'], diskBuckets)
  const byOp = new Map<string, OpCells>()
  // Found once per operation kind: a disk read then costs a map lookup by a constant string (the
  // byte counter's cell was looked up on every operation, a key built and an object made each time).
  const cellsOf = (op: string): OpCells => {
    let cells = byOp.get(op)
    if (cells === undefined) {
      const counted = op === 'read' || op === 'write' ? bytes.cell({ op }) : { value: 0 }
      byOp.set(op, (cells = { ops: ops.cell({ op }), bytes: counted, latency: latency.cell({ op }) }))
    }
    return cells
  }
  // Takes the operation already started (no closure per call: every 4 KiB read passes here).
  const timed = <T>(op: string, started: Promise<T>, countBytes?: (result: T) => number): Promise<T> => {
    const startMs = performance.now()
    const cells = cellsOf(op)
    cells.ops.value++
    return started.then(
      (result) => {
        cells.latency.observe((performance.now() - startMs) / 1000)
        if (countBytes !== undefined) cells.bytes.value += countBytes(result)
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
    read: (into, position, length, bufferOffset) => timed('read', f.read(into, position, length, bufferOffset), transferred),
    write: (from, position, length, bufferOffset) => timed('write', f.write(from, position, length, bufferOffset), transferred),
    sync: (options) => timed(options?.dataOnly ? 'fdatasync' : 'fsync', f.sync(options)),
    allocate: (position, length, options) => timed('fallocate', f.allocate(position, length, options)),
    punchHole: (position, length) => timed('punch_hole', f.punchHole(position, length)),
    truncate: (lengthBytes) => timed('truncate', f.truncate(lengthBytes)),
    stat: () => f.stat(),
    close: () => f.close(),
  })
  return {
    alignment: disk.alignment,
    name: disk.name,
    open: (path, options) => timed('open', disk.open(path, options)).then(file),
    mkdir: (path, options) => timed('mkdir', disk.mkdir(path, options)),
    list: (path) => disk.list(path),
    stat: (path) => disk.stat(path),
    rename: (from, to) => timed('rename', disk.rename(from, to)),
    unlink: (path) => timed('unlink', disk.unlink(path)),
    rmdir: (path) => timed('rmdir', disk.rmdir(path)),
    syncDir: (path) => timed('sync_dir', disk.syncDir(path)),
    capacity: () => disk.capacity(),
  }
}
