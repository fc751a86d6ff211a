/**
 * npm run bench:storage — the storage service end to end: three storage nodes from `t3fs launch`
 * (chains of three, every replica on this machine's one disk) and this process as the client.
 *
 *   write:    1 MiB full-chunk writes, `depth` in flight, each through the whole chain (the head
 *             pulls it one-sidedly, every replica writes it copy-on-write and commits durably)
 *   read:     every chunk read back (1 MiB, pushed one-sidedly into the client's buffer), checked
 *   randread: 4 KiB reads at random offsets of random chunks, checked
 *
 * Limits measured in the same run, on the same disk: fio sequential 1 MiB writes at the same
 * depth with an fdatasync every `depth` writes (the durability commits give), fio sequential
 * 1 MiB reads, fio 4 KiB random reads at the same depth (bench/fixtures/fio.ts options), and a raw
 * TCP socket between two processes pumping 1 MiB buffers (the loopback the reads cross).
 *   chain_write_vs_disk_third = write / (fio write ÷ 3)    every byte is written three times
 *   chain_read_vs_limit       = read / min(fio read, raw socket)
 *   randread_vs_fio           = randread IOPS / fio randread IOPS
 * Ends with one JSON line. Options: --chunks N (default 256), --depth N (16: 1 MiB writes and reads in
 * flight), --rand-depth N (64: 4 KiB random reads in flight; fio's randread runs at the same depth), --rand-ops N (100000: ~2.5 s of reads, a steadier rate than 20000 gave in ~0.5 s; fio's runs 10 s),
 * --chains N (6), --data region|inline (how bytes travel between client and replicas), --segment
 * BYTES (the chunk engine's checksum segment, default 4096: a 4 KiB read then reads and checks 4 KiB),
 * --host N (the host the storage service and its replicas run on: default 0, the main thread beside
 * the transport, which saves two thread hops per message; 1 puts them on a worker host), --warmup N
 * (1024: chunks written, read and randomly read before the timed phases, on chunks those never
 * touch: V8 optimizes the per-operation code only after thousands of calls, and a short timed
 * phase would otherwise measure mostly interpreted code and the compiler; 0: no warm-up; the
 * random reads of the warm-up number 3 × --rand-ops, at most 64 per warm-up chunk: after 16k of
 * them a timed phase of 20k still spent 11-15% of every process's CPU in V8's optimizing
 * compiler and cost ~30% more CPU per read than the phases after it),
 * --same-host on|off (on: one-sided transfers between these processes of one machine are direct
 * copies, transport.same_host_copy, the default; off: every byte goes through the loopback socket),
 * --only randread (to iterate on the random reads: the chunks are still written, untimed, and
 * only the random-read phase and fio's random reads are measured; the JSON line then has no
 * write or read figures).
 * Progress (which phase) goes to stderr; stdout ends with the JSON line.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { startProcessCluster } from '../test/support/storage-processes.ts'
import { fioArgs, fioAvailable, fioMissingMessage, type FioJob } from './fixtures/fio.ts'
import { cpuSeconds } from './fixtures/process-cpu.ts'
import { storageBench, type PhaseResult } from './fixtures/storage-bench-actor.ts'
import { rawSocketBytesPerSec } from './fixtures/raw-socket.ts'
import { Progress } from '../runtime/progress/progress.ts'

const execFileAsync = promisify(execFile)
const MiB = 1024 * 1024
const chunkSizeBytes = MiB

const { values } = parseArgs({ options: { chunks: { type: 'string' }, depth: { type: 'string' }, 'rand-ops': { type: 'string' }, chains: { type: 'string' }, data: { type: 'string' }, segment: { type: 'string' }, host: { type: 'string' }, 'rand-depth': { type: 'string' }, warmup: { type: 'string' }, only: { type: 'string' }, 'same-host': { type: 'string' } } })
const int = (name: string, v: string | undefined, fallback: number, max: number): number => {
  if (v === undefined) return fallback
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
    console.error(`bench:storage: --${name} ${JSON.stringify(v)} is not accepted; accepted: an integer from 1 to ${max}`)
    process.exit(2)
  }
  return Number(v)
}
const chunks = int('chunks', values.chunks, 256, 65_536)
const depth = int('depth', values.depth, 16, 64)
const randDepth = int('rand-depth', values['rand-depth'], 64, 64)
const randOps = int('rand-ops', values['rand-ops'], 100_000, 10_000_000)
const warmupChunks = values.warmup === '0' ? 0 : int('warmup', values.warmup, 1024, 65_536)
/** Random reads of the warm-up (see the file comment). */
const randWarmupOps = Math.min(3 * randOps, 64 * warmupChunks)
const chainCount = int('chains', values.chains, 6, 64)
const segmentBytes = int('segment', values.segment, 4096, 1024 * 1024)
const storageHost = values.host === '0' ? 0 : int('host', values.host, 0, 1)
const dataMode = values.data ?? 'region'
const only = values.only ?? null
const sameHost = values['same-host'] ?? 'on'
if (sameHost !== 'on' && sameHost !== 'off') {
  console.error(`bench:storage: --same-host ${JSON.stringify(sameHost)} is not accepted; accepted: on | off`)
  process.exit(2)
}
if (only !== null && only !== 'randread') {
  console.error(`bench:storage: --only ${JSON.stringify(only)} is not accepted; accepted: randread`)
  process.exit(2)
}
if (dataMode !== 'region' && dataMode !== 'inline') {
  console.error(`bench:storage: --data ${JSON.stringify(dataMode)} is not accepted; accepted: region | inline`)
  process.exit(2)
}

interface Rate {
  bytesPerSec: number
  iops: number
}

async function fio(job: FioJob, extra: string[] = []): Promise<Rate | null> {
  if (!fioAvailable()) return null
  const { stdout } = await execFileAsync('fio', [...fioArgs(job), ...extra], { encoding: 'utf8', maxBuffer: 64 * MiB })
  const side = (JSON.parse(stdout) as { jobs: { read: { bw_bytes: number; iops: number }; write: { bw_bytes: number; iops: number } }[] }).jobs[0]
  const r = job.rw.includes('write') ? side.write : side.read
  return { bytesPerSec: r.bw_bytes, iops: r.iops }
}

const gib = (bytesPerSec: number | null | undefined): string => (bytesPerSec == null ? '-' : (bytesPerSec / 1024 ** 3).toFixed(2))
const round = (x: number | null): number | null => (x === null || !Number.isFinite(x) ? null : Math.round(x * 1000) / 1000)

interface Figures {
  write: PhaseResult
  writeCpu: number
  read: PhaseResult | null
  readCpu: number
  randread: PhaseResult
  randCpu: number
  /** Of randCpu, what this process (the client) used. */
  randClientCpu: number
  fioWrite: Rate | null
  fioRead: Rate | null
  fioRand: Rate | null
  socket: number | null
}

const rate = (p: PhaseResult): number => p.bytes / p.seconds
const perGib = (cpu: number, p: PhaseResult): number => cpu / (p.bytes / 1024 ** 3)

function report(f: Figures): void {
  const { write, read, randread, fioWrite, fioRead, fioRand, socket } = f
  const readLimit = read === null ? null : fioRead === null ? socket : Math.min(fioRead.bytesPerSec, socket ?? Infinity)
  const randIops = randread.ops / randread.seconds
  const validated = write.errors === 0 && randread.errors === 0 && randread.mismatches === 0 && randread.ops === randOps &&
    (read === null || (read.errors === 0 && read.mismatches === 0 && read.ops === chunks))
  console.log(`${'side'.padEnd(60)} ${'GiB/s'.padStart(7)} ${'IOPS'.padStart(9)}`)
  const line = (name: string, bps: number | null, iops?: number): void => console.log(`${name.padEnd(60)} ${gib(bps).padStart(7)} ${(iops === undefined ? '' : Math.round(iops).toString()).padStart(9)}`)
  if (only === null) {
    line(`chain write 1 MiB, ${depth} in flight, 3 replicas (data: ${dataMode})`, rate(write), write.ops / write.seconds)
    line(`fio write 1 MiB QD${depth}, fdatasync every ${depth}`, fioWrite?.bytesPerSec ?? null, fioWrite?.iops)
  }
  if (read !== null) {
    line(`chain read 1 MiB, ${depth} in flight`, rate(read), read.ops / read.seconds)
    line(`fio read 1 MiB QD${depth}`, fioRead?.bytesPerSec ?? null, fioRead?.iops)
    line('raw TCP socket between two processes, 1 MiB buffers', socket)
  }
  line(`chain random read 4 KiB, ${randDepth} in flight (${randread.readsPerBatch} per batch)`, rate(randread), randIops)
  line(`fio randread 4 KiB QD${randDepth}`, fioRand?.bytesPerSec ?? null, fioRand?.iops)
  const randUs = (1e6 * f.randCpu) / randread.ops
  const randClientUs = (1e6 * f.randClientCpu) / randread.ops
  console.log(`CPU (all processes): ${only === null ? `write ${perGib(f.writeCpu, write).toFixed(2)} s/GiB, ` : ''}${read === null ? '' : `read ${perGib(f.readCpu, read).toFixed(2)} s/GiB, `}random read ${randUs.toFixed(1)} µs per 4 KiB read (client ${randClientUs.toFixed(1)}, storage nodes ${(randUs - randClientUs).toFixed(1)})`)
  if (!validated) console.log(`validation: write errors ${write.errors}, read errors ${read?.errors ?? '-'} / mismatches ${read?.mismatches ?? '-'}, randread errors ${randread.errors} / mismatches ${randread.mismatches}; first error: ${write.firstError ?? read?.firstError ?? randread.firstError}`)
  const full = only !== null ? {} : {
    write_gib_s: round(rate(write) / 1024 ** 3), read_gib_s: round(rate(read!) / 1024 ** 3),
    fio_write_gib_s: round(fioWrite === null ? null : fioWrite.bytesPerSec / 1024 ** 3), fio_read_gib_s: round(fioRead === null ? null : fioRead.bytesPerSec / 1024 ** 3),
    raw_socket_gib_s: round(socket! / 1024 ** 3), cpu_s_per_gib_write: round(perGib(f.writeCpu, write)), cpu_s_per_gib_read: round(perGib(f.readCpu, read!)),
    chain_write_vs_disk_third: round(fioWrite === null ? null : rate(write) / (fioWrite.bytesPerSec / 3)),
    chain_read_vs_limit: round(rate(read!) / readLimit!),
  }
  console.log(JSON.stringify({
    bench: 'storage', ...(only === null ? {} : { only }), chunks, depth, rand_depth: randDepth, warmup_chunks: warmupChunks, chains: chainCount, data: dataMode, same_host: sameHost, host: storageHost,
    randread_iops: Math.round(randIops), fio_randread_iops: fioRand === null ? null : Math.round(fioRand.iops), reads_per_batch: randread.readsPerBatch,
    cpu_us_per_randread: round(randUs), cpu_us_per_randread_client: round(randClientUs), ...full,
    randread_vs_fio: round(fioRand === null ? null : randIops / fioRand.iops),
    validated,
  }))
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 't3fs-bench-storage-'))
  // Cluster, warm-up, the three timed phases, fio's three, the raw socket.
  const progress = new Progress({ label: 'bench:storage', steps: warmupChunks > 0 ? 9 : 8 })
  progress.start('start 3 storage nodes and wait for every chain to serve')
  const cluster = await startProcessCluster({
    storageNodes: 3, chains: chainCount, chunkSizeBytes, dir, storageHost, sameHostCopy: sameHost === 'on', engineFormat: { checksumSegmentBytes: segmentBytes },
    storageParams: { max_in_flight: 1024, forward_timeout: '10s', forward_budget: '60s', forward_data: dataMode },
  })
  try {
    await cluster.allServing(120_000)
    progress.end()
    const bench = cluster.client.system.spawn(storageBench, { mgmtds: [cluster.mgmtd], chains: cluster.chains.map((c) => c.chainId), chunkSizeBytes, depth: Math.max(depth, randDepth), dataMode })
    await bench.ask({ type: 'ready' }, { timeoutMs: 30_000 })
    const salt = Math.floor(Math.random() * 2 ** 31)
    // Warm up (connections, engine groups, JIT: V8 optimizes a function called once per operation
    // only after some thousands of calls) with every phase, on chunks the timed phases never touch,
    // so the timed phases measure the service warm and write fresh chunks as before.
    if (warmupChunks > 0) {
      const warm = { salt, firstChunk: chunks }
      await progress.run(`warm-up on ${warmupChunks} other chunks`, async (update) => {
        update({ detail: 'write' })
        await bench.ask({ type: 'write', chunks: warmupChunks, depth, ...warm }, { timeoutMs: 600_000 })
        update({ done: 1, detail: 'read' })
        if (only === null) await bench.ask({ type: 'read', chunks: warmupChunks, depth, ...warm }, { timeoutMs: 600_000 })
        update({ done: 2, detail: 'random read' })
        await bench.ask({ type: 'randread', chunks: warmupChunks, ops: randWarmupOps, ioBytes: 4096, depth: randDepth, ...warm }, { timeoutMs: 600_000 })
        update({ done: 3, detail: 'write, read, random read' })
      }, { total: 3, unit: 'phases' })
    }
    // CPU seconds of every process of the cluster and of this one (the client) over each phase.
    const pids = [...cluster.nodes.values()].map((n) => n.process?.pid).filter((pid): pid is number => pid !== undefined)
    // Each timed phase's start and end in hrtime µs (the clock of --cpu-prof's timestamps, in every
    // process) go to stderr beside the progress line, so a profile can be cut to the phase.
    const measured = async <T>(phase: () => Promise<T>, name: string, title: string): Promise<[T, number]> => {
      const hrtimeUs = (): string => (process.hrtime.bigint() / 1000n).toString()
      progress.log(`bench:storage: ${name} phase (timed) starts at hrtime ${hrtimeUs()} µs; pids ${[process.pid, ...pids].join(' ')}`)
      const before = cpuSeconds(pids)
      const result = await progress.run(title, phase)
      progress.log(`bench:storage: ${name} phase ends at hrtime ${hrtimeUs()} µs`)
      return [result, cpuSeconds(pids) - before]
    }
    const [write, writeCpu] = await measured(() => bench.ask({ type: 'write', chunks, salt, depth }, { timeoutMs: 3_600_000 }), 'write', `chain write: ${chunks} × 1 MiB, ${depth} in flight`)
    const [read, readCpu] = only === null ? await measured(() => bench.ask({ type: 'read', chunks, salt, depth }, { timeoutMs: 3_600_000 }), 'read', `chain read: ${chunks} × 1 MiB, ${depth} in flight`) : [null, 0]
    const clientCpuBefore = cpuSeconds([])
    const [randread, randCpu] = await measured(() => bench.ask({ type: 'randread', chunks, salt, ops: randOps, ioBytes: 4096, depth: randDepth }, { timeoutMs: 3_600_000 }), 'randread', `chain random read: ${randOps} × 4 KiB, ${randDepth} in flight`)
    const randClientCpu = cpuSeconds([]) - clientCpuBefore
    await cluster.close()

    if (!fioAvailable()) console.log(fioMissingMessage)
    const fioFile = join(dir, 'fio.dat')
    writeFileSync(fioFile, '')
    const job = { file: fioFile, blockBytes: chunkSizeBytes, depth, sizeBytes: chunks * chunkSizeBytes }
    const fioWrite = await progress.run('fio write, fdatasync', () => fio({ ...job, rw: 'write' }, [`--fdatasync=${depth}`])) // also lays the file out for the reads
    const fioRead = only === null ? await progress.run('fio read', () => fio({ ...job, rw: 'read' })) : null
    const fioRand = await progress.run('fio random read (10 s)', () => fio({ ...job, rw: 'randread', blockBytes: 4096, depth: randDepth, sizeBytes: chunks * chunkSizeBytes, runtimeSeconds: 10 }))
    const socket = only === null ? await progress.run('raw TCP socket between two processes', () => rawSocketBytesPerSec(Math.max(1024, chunks) * MiB)) : null
    report({ write, writeCpu, read, readCpu, randread, randCpu, randClientCpu, fioWrite, fioRead, fioRand, socket })
  } finally {
    await cluster.close().catch(() => {})
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
