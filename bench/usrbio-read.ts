/**
 * npm run bench:usrbio — USRBIO batched reads from a second process, beside the limits they are
 * held to, measured in the same run: a cluster of launched processes (three storage nodes, chains
 * of three, the usrbio actor in node 1), a file written through a FileClient, then a separate Node
 * process (bench/fixtures/usrbio-reader.ts, through t3fs/usrbio) reading it in batches of `depth`
 * reads of `io` bytes into its shared region; fio sequential reads of a file of the same size on
 * the same disk (O_DIRECT, io_uring, QD `depth`), and a raw TCP socket between two processes.
 *
 *   usrbio_read_vs_limit = USRBIO read ÷ min(fio read, raw socket)
 *   cpu_s_per_gib = CPU seconds per GiB read of the reader and every node process (/proc, sampled
 *                   when the reader marks the start and end of its timed passes on stderr)
 *
 * The timed window is printed in hrtime µs on stderr (cut a --cpu-prof profile with it);
 * T3FS_BENCH_THREADS=1 prints each node thread's user and system s/GiB (the profiler itself about
 * doubles the nodes' CPU, so judge changes by runs without it).
 * `usrbioReadBench` is the measurement alone, for a bench that has its own cluster (bench:fuse).
 * Options: --size-mib N (256), --io-kib N (1024), --depth N (32), --passes N (2). Progress (which
 * phase) goes to stderr; stdout ends with one JSON line.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { crc32c } from '../runtime/checksum.ts'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { FileClient } from '../actors/client/file-client.ts'
import { usrbioActorToml } from '../test/actors/client/usrbio-toml.ts'
import { startProcessFs } from '../test/actors/client/process-fs.ts'
import { fioAvailable, fioMissingMessage, runFio } from './fixtures/fio.ts'
import { rawSocketBytesPerSec } from './fixtures/raw-socket.ts'
import { Progress } from '../runtime/progress/progress.ts'

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
  /** Server processes (the cluster's nodes) whose CPU during the timed passes is counted too. */
  serverPids?: number[]
  /** Called as the reader marks the start and end of its timed passes (hrtime µs): readers run side by side sample CPU over their union. */
  onMark?: (mark: 'start' | 'end', hrtimeUs: number) => void
  /**
   * Readers run side by side start their timed passes together: the reader calls `warm` after its
   * warm-up pass and waits for `go` (see startTogether).
   */
  gate?: { warm: () => void; go: Promise<void> }
}

/** A gate for `n` readers: each one's timed passes start once all `n` have finished warming up. */
export function startTogether(n: number): { warm: () => void; go: Promise<void> } {
  let open!: () => void
  const go = new Promise<void>((resolve) => { open = resolve })
  let warm = 0
  return { warm: () => { if (++warm === n) open() }, go }
}

export interface UsrbioReadResult {
  /** Bytes read by the timed passes. */
  bytes: number
  bytesPerSec: number
  gibPerSec: number
  /** CPU seconds per GiB of the reading process (the server's are not counted). */
  readerCpuSecondsPerGiB: number
  /** CPU seconds per GiB of each server process (by pid) during the timed passes. */
  serverCpuSecondsPerGiB: Map<number, number>
  /** Reader plus every server process: the whole read path's CPU per GiB. */
  cpuSecondsPerGiB: number
  /** The timed passes in hrtime µs (to cut a --cpu-prof profile to them). */
  windowUs: [number, number]
  /** CRC32C of the file as the last pass read it (every byte, in file order). */
  crc32c: number
}

/** utime + stime of a process (all its threads) in seconds; null once it is gone. */
function processCpuSeconds(pid: number): number | null {
  try {
    // Fields after the ")" that ends the command name: state is 3rd, utime 14th, stime 15th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100 // USER_HZ is 100 on Linux
  } catch {
    return null
  }
}

/** Per-thread [comm, user s, system s] of a process (T3FS_BENCH_THREADS=1 prints their deltas, to see which thread spends what). */
function threadCpu(pid: number): Map<string, [string, number, number]> {
  const out = new Map<string, [string, number, number]>()
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const fields = text.slice(text.lastIndexOf(') ') + 2).split(' ')
      out.set(tid, [text.slice(text.indexOf('(') + 1, text.lastIndexOf(')')), Number(fields[11]) / 100, Number(fields[12]) / 100])
    }
  } catch { /* gone */ }
  return out
}

/** Batched USRBIO reads of `path` from a second Node process. */
export async function usrbioReadBench(o: UsrbioReadOptions): Promise<UsrbioReadResult> {
  const args = { socketPath: o.socketPath, path: o.path, sizeBytes: o.sizeBytes, ioBytes: o.ioBytes ?? MiB, depth: o.depth ?? 32, passes: o.passes ?? 2, gated: o.gate !== undefined }
  const pids = o.serverPids ?? []
  const cpuAt: Partial<Record<'start' | 'end', (number | null)[]>> = {}
  const windowUs: [number, number] = [0, 0]
  const threadsAt: Partial<Record<'start' | 'end', Map<string, [string, number, number]>[]>> = {}
  const child = spawn(process.execPath, ['--import', 'tsx', reader, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  let warmed = false
  child.stdin.on('error', () => { /* a reader that has exited; its exit code tells */ })
  child.stdout.setEncoding('utf8').on('data', (c: string) => { stdout += c })
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c
    if (o.gate !== undefined && !warmed && stderr.includes('usrbio-reader: warm\n')) {
      warmed = true
      o.gate.warm()
      void o.gate.go.then(() => child.stdin.end('go\n'))
    }
    // The reader marks its timed passes: sample the servers' CPU at each mark.
    for (let m; (m = /usrbio-reader: timed (start|end) (\d+)\n/.exec(stderr)) !== null; stderr = stderr.slice(m.index + m[0].length)) {
      cpuAt[m[1] as 'start' | 'end'] = pids.map(processCpuSeconds)
      if (process.env.T3FS_BENCH_THREADS !== undefined) threadsAt[m[1] as 'start' | 'end'] = pids.map(threadCpu)
      windowUs[m[1] === 'start' ? 0 : 1] = Number(m[2])
      o.onMark?.(m[1] as 'start' | 'end', Number(m[2]))
    }
    if (stderr.length > 100_000) stderr = stderr.slice(-50_000)
  })
  const code = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('close', resolve))
  // A reader that died before warming up must not hold the others at the gate.
  if (o.gate !== undefined && !warmed) o.gate.warm()
  if (code !== 0) throw new Error(`the USRBIO reader exited with ${code}: ${stderr.slice(-2000)}`)
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as { bytes: number; seconds: number; cpuSeconds: number; crc32c: number }
  const gib = r.bytes / 1024 ** 3
  const serverCpuSecondsPerGiB = new Map<number, number>()
  pids.forEach((pid, i) => {
    const a = cpuAt.start?.[i]
    const b = cpuAt.end?.[i]
    if (a != null && b != null) serverCpuSecondsPerGiB.set(pid, (b - a) / gib)
  })
  const readerCpuSecondsPerGiB = r.cpuSeconds / gib
  if (threadsAt.start !== undefined && threadsAt.end !== undefined) {
    pids.forEach((pid, i) => {
      for (const [tid, [comm, u, sy]] of threadsAt.end![i]) {
        const [, u0, s0] = threadsAt.start![i].get(tid) ?? [comm, 0, 0]
        if (u - u0 + sy - s0 >= 0.01 * gib) console.error(`pid ${pid} thread ${tid} ${comm}: user ${((u - u0) / gib).toFixed(3)} sys ${((sy - s0) / gib).toFixed(3)} s/GiB`)
      }
    })
  }
  const cpuSecondsPerGiB = readerCpuSecondsPerGiB + [...serverCpuSecondsPerGiB.values()].reduce((a, b) => a + b, 0)
  return { bytes: r.bytes, bytesPerSec: r.bytes / r.seconds, gibPerSec: gib / r.seconds, readerCpuSecondsPerGiB, serverCpuSecondsPerGiB, cpuSecondsPerGiB, windowUs, crc32c: r.crc32c }
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
    const nodeOfPid = new Map([...cluster.nodes].flatMap(([id, n]) => (n.process?.pid === undefined ? [] : [[n.process.pid, id] as const])))
    const serverPids = [...nodeOfPid.keys()]
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
    const usrbio = await progress.run(`USRBIO reads from a second process, ${o.passes} pass${o.passes === 1 ? '' : 'es'}`, () => usrbioReadBench({ socketPath, path: '/bench-usrbio', ...o, serverPids }))
    const validated = usrbio.crc32c === crc32c(data)
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
    const perNode = [...usrbio.serverCpuSecondsPerGiB].map(([pid, s]) => `node ${nodeOfPid.get(pid) ?? pid} ${s.toFixed(3)}`).join(', ')
    console.log(`CPU s/GiB during the timed passes: all ${usrbio.cpuSecondsPerGiB.toFixed(3)} = reader ${usrbio.readerCpuSecondsPerGiB.toFixed(3)} + ${perNode}`)
    console.error(`usrbio timed window (hrtime µs, for profcut): ${usrbio.windowUs.join(' ')}`)
    console.log(`validated (CRC32C of the file as read): ${validated}`)
    console.log(JSON.stringify({
      bench: 'usrbio', size_mib: o.sizeBytes / MiB, io_kib: o.ioBytes / 1024, depth: o.depth,
      usrbio_read_gib_s: round(usrbio.gibPerSec), file_client_read_gib_s: round(direct / 1024 ** 3), fio_read_gib_s: round(fio?.gibPerSec ?? null), raw_socket_gib_s: round(socket / 1024 ** 3),
      reader_cpu_s_per_gib: round(usrbio.readerCpuSecondsPerGiB), cpu_s_per_gib: round(usrbio.cpuSecondsPerGiB),
      usrbio_read_vs_limit: round(usrbio.bytesPerSec / limit), validated,
    }))
  } finally {
    await cluster.close().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
    rmSync(socketPath, { force: true }) // the node was killed: its actor could not remove it
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()
