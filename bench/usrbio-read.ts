/**
 * npm run bench:usrbio — USRBIO batched reads from a second process, beside the limits they are
 * held to, measured in the same run: a cluster of launched processes (three storage nodes, chains
 * of three, the usrbio actor in node 1), a file written through a FileClient, then a separate Node
 * process (bench/fixtures/usrbio-reader.ts, through t3fs/usrbio) reading it in batches of `depth`
 * reads of `io` bytes into its shared region; fio sequential reads of a file of the same size on
 * the same disk (O_DIRECT, io_uring, QD `depth`), and a raw TCP socket between two processes.
 *
 *   usrbio_read_vs_limit = USRBIO read ÷ min(fio read, raw socket)
 *
 * `usrbioReadBench` is the measurement alone, for a bench that has its own cluster (bench:fuse).
 * Options: --size-mib N (256), --io-kib N (1024), --depth N (32), --passes N (2). Progress (which
 * phase) goes to stderr; stdout ends with one JSON line.
 */
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs, promisify } from 'node:util'
import type { FileClient } from '../actors/client/file-client.ts'
import { usrbioActorToml } from '../test/actors/client/usrbio-toml.ts'
import { startProcessFs } from '../test/actors/client/process-fs.ts'
import { fioAvailable, fioMissingMessage, runFio } from './fixtures/fio.ts'
import { rawSocketBytesPerSec } from './fixtures/raw-socket.ts'
import { Progress } from '../runtime/progress/progress.ts'

const execFileAsync = promisify(execFile)
const MiB = 1024 * 1024
const reader = fileURLToPath(new URL('./fixtures/usrbio-reader.ts', import.meta.url))

export interface UsrbioReadOptions {
  socketPath: string
  /** A t3fs file of `sizeBytes` bytes. */
  path: string
  sizeBytes: number
  ioBytes?: number
  depth?: number
  passes?: number
}

export interface UsrbioReadResult {
  bytesPerSec: number
  gibPerSec: number
  /** CPU seconds per GiB of the reading process (the server's are not counted). */
  readerCpuSecondsPerGiB: number
  /** SHA-256 of the file as the last pass read it. */
  sha256: string
}

/** Batched USRBIO reads of `path` from a second Node process. */
export async function usrbioReadBench(o: UsrbioReadOptions): Promise<UsrbioReadResult> {
  const args = { socketPath: o.socketPath, path: o.path, sizeBytes: o.sizeBytes, ioBytes: o.ioBytes ?? MiB, depth: o.depth ?? 32, passes: o.passes ?? 2 }
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', reader, JSON.stringify(args)], { encoding: 'utf8', maxBuffer: MiB })
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as { bytes: number; seconds: number; cpuSeconds: number; sha256: string }
  return { bytesPerSec: r.bytes / r.seconds, gibPerSec: r.bytes / r.seconds / 1024 ** 3, readerCpuSecondsPerGiB: r.cpuSeconds / (r.bytes / 1024 ** 3), sha256: r.sha256 }
}

function options(): { sizeBytes: number; ioBytes: number; depth: number; passes: number } {
  const { values } = parseArgs({ options: { 'size-mib': { type: 'string' }, 'io-kib': { type: 'string' }, depth: { type: 'string' }, passes: { type: 'string' } } })
  const int = (name: string, v: string | undefined, fallback: number, max: number): number => {
    if (v === undefined) return fallback
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
      console.error(`bench:usrbio: --${name} ${JSON.stringify(v)} is not accepted; accepted: an integer from 1 to ${max}`)
      process.exit(2)
    }
    return Number(v)
  }
  return { sizeBytes: int('size-mib', values['size-mib'], 256, 65_536) * MiB, ioBytes: int('io-kib', values['io-kib'], 1024, 65_536) * 1024, depth: int('depth', values.depth, 32, 1024), passes: int('passes', values.passes, 2, 100) }
}

/** The same reads through a FileClient of this process (`depth` in flight): what the server side can do at best. */
async function fileClientRead(fs: FileClient, path: string, o: { sizeBytes: number; ioBytes: number; depth: number; passes: number }): Promise<number> {
  const h = await fs.open(path, { direct: true })
  const buffers = Array.from({ length: o.depth }, () => Buffer.alloc(o.ioBytes))
  const ios = Math.ceil(o.sizeBytes / o.ioBytes)
  const pass = async (): Promise<void> => {
    let next = 0
    await Promise.all(buffers.map(async (b) => {
      while (next < ios) {
        const i = next++
        await fs.read(h, b, i * o.ioBytes, Math.min(o.ioBytes, o.sizeBytes - i * o.ioBytes))
      }
    }))
  }
  await pass()
  const t0 = performance.now()
  for (let p = 0; p < o.passes; p++) await pass()
  const seconds = (performance.now() - t0) / 1000
  await fs.close(h)
  return (o.passes * o.sizeBytes) / seconds
}

async function main(): Promise<void> {
  const o = options()
  const socketPath = `/dev/shm/t3fs-usrbio-bench-${process.pid}.sock`
  const dir = mkdtempSync(join(tmpdir(), 't3fs-bench-usrbio-'))
  const progress = new Progress({ label: 'bench:usrbio', steps: 6 })
  const cluster = await progress.run('start a cluster (mgmtd, meta, 3 storage nodes, usrbio)', () => startProcessFs({ extraActors: usrbioActorToml(socketPath, 4), hosts: 4 }))
  try {
    const fs = await cluster.connect({ description: 'bench:usrbio writer' })
    const data = randomBytes(o.sizeBytes)
    await progress.run('write the file through a FileClient', async (update) => {
      const h = await fs.create('/bench-usrbio')
      for (let at = 0; at < data.length; at += 8 * MiB) {
        await fs.write(h, data.subarray(at, at + 8 * MiB), at)
        update({ done: Math.min(data.length, at + 8 * MiB) })
      }
      await fs.close(h)
    }, { total: data.length, unit: 'bytes' })
    const direct = await progress.run(`FileClient reads in this process, ${o.passes} pass${o.passes === 1 ? '' : 'es'}`, () => fileClientRead(fs, '/bench-usrbio', o))
    await fs.shutdown()
    const usrbio = await progress.run(`USRBIO reads from a second process, ${o.passes} pass${o.passes === 1 ? '' : 'es'}`, () => usrbioReadBench({ socketPath, path: '/bench-usrbio', ...o }))
    const validated = usrbio.sha256 === createHash('sha256').update(data).digest('hex')
    await cluster.close()

    if (!fioAvailable()) console.log(fioMissingMessage)
    const fioFile = join(dir, 'fio.dat')
    writeFileSync(fioFile, '')
    const fio = await progress.run('fio read', () => runFio({ file: fioFile, rw: 'read', blockBytes: o.ioBytes, depth: o.depth, sizeBytes: o.sizeBytes }))
    const socket = await progress.run('raw TCP socket between two processes', () => rawSocketBytesPerSec(Math.max(1024 * MiB, o.sizeBytes)))
    const limit = fio === null ? socket : Math.min(fio.bytesPerSec, socket)
    const gib = (x: number | null | undefined): string => (x == null ? '-' : (x / 1024 ** 3).toFixed(2))
    const round = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000)
    console.log(`${'side'.padEnd(64)} ${'GiB/s'.padStart(7)}`)
    console.log(`${`USRBIO read, ${o.ioBytes / 1024} KiB × ${o.depth} in flight, second process`.padEnd(64)} ${gib(usrbio.bytesPerSec).padStart(7)}`)
    console.log(`${`FileClient read in this process, same batches (the server's own path)`.padEnd(64)} ${gib(direct).padStart(7)}`)
    console.log(`${`fio read ${o.ioBytes / 1024} KiB QD${o.depth}, O_DIRECT`.padEnd(64)} ${gib(fio?.bytesPerSec).padStart(7)}`)
    console.log(`${'raw TCP socket between two processes, 1 MiB buffers'.padEnd(64)} ${gib(socket).padStart(7)}`)
    console.log(`reader CPU: ${usrbio.readerCpuSecondsPerGiB.toFixed(3)} s/GiB; validated (SHA-256 of the file as read): ${validated}`)
    console.log(JSON.stringify({
      bench: 'usrbio', size_mib: o.sizeBytes / MiB, io_kib: o.ioBytes / 1024, depth: o.depth,
      usrbio_read_gib_s: round(usrbio.gibPerSec), file_client_read_gib_s: round(direct / 1024 ** 3), fio_read_gib_s: round(fio?.gibPerSec ?? null), raw_socket_gib_s: round(socket / 1024 ** 3),
      reader_cpu_s_per_gib: round(usrbio.readerCpuSecondsPerGiB),
      usrbio_read_vs_limit: round(usrbio.bytesPerSec / limit), validated,
    }))
  } finally {
    await cluster.close().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
    rmSync(socketPath, { force: true }) // the node was killed: its actor could not remove it
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
