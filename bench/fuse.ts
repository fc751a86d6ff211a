/**
 * `npm run bench:fuse [-- --file-mib N --jobs N --warmup-mib N --warmup-rounds N --smoke]`: 1 MiB sequential writes and reads through
 * the FUSE mount of a dev cluster (the profiles of `npm start`: three storage nodes, chains of
 * three, in a temp dir on this machine's disk), beside the same fio jobs on a bindfs passthrough
 * mount of a directory of that disk and fio on the raw disk itself, all in one run.
 *
 * - Jobs: fio, `--jobs` files written in parallel (1 MiB psync writes, buffered, fsync at the
 *   end, crc32c verify headers in every block), then the page cache dropped and the same files
 *   read back with `--verify_only` (every block's crc32c checked: `validated`). The mount and
 *   bindfs run the identical job.
 *   bindfs gets the same kernel read-ahead window as the mount (kernel_read_ahead, 4 MiB).
 * - Raw disk: the strongest honest baseline, fio with io_uring, O_DIRECT, registered buffers and
 *   files, depth 16 per job, the same jobs and sizes, each pass made `RAW_LOOPS` times over the same
 *   files (one pass of 1 GiB lasts half a second here, too short to measure this shared disk
 *   steadily; the later write passes overwrite written blocks, the disk's fastest case). The raw
 *   write and read are measured twice, first and last in the run, and the ratios divide by their
 *   mean: this machine's disk is shared, its rate drifts by a third within minutes, and a single
 *   measurement at one end of the run judged the cluster against a disk it never ran on. Both
 *   measurements are in the JSON line (`disk_write_runs_gib_per_s`, `disk_read_runs_gib_per_s`).
 * - Ratios: `seq_read_vs_bindfs` (t3fs read ÷ bindfs read; target ≥ 0.6) and
 *   `seq_write_vs_disk_third` (t3fs write ÷ (raw disk write ÷ 3): three replicas on one disk;
 *   target ≥ 0.5), and `usrbio_read_vs_limit`: USRBIO batched reads of the written files through
 *   the cluster's usrbio actor, batched as the raw disk's fio read is (one process per file, 1 MiB
 *   × 16 in flight each, side by side), ÷ min(raw disk read, a raw TCP socket between two
 *   processes) (target ≥ 0.6); each file checked by CRC32C against it read through the mount.
 * - `bindfs_write_vs_disk_third`: bindfs's write by the same formula. bindfs writes one copy into
 *   the page cache (no replicas, no sync until the end), so it shows how far this machine's FUSE
 *   write path and the fio job get at all: the ceiling the write target is judged under.
 * - Warm-up: before its timed phases the mount writes the same jobs `--warmup-rounds` times
 *   (default 3, smoke 1; `--warmup-mib` MiB per job, default `--file-mib`; 0: none), each round in
 *   a directory of its own, and reads the last back, untimed: the cluster runs JavaScript that V8
 *   optimizes only after thousands of calls, and a storage node sees one call per chunk (1024 per
 *   GiB). Each round's CPU per GiB is printed (and in the JSON line) to show it has settled.
 * - CPU: seconds of CPU of the cluster's processes (node 1 with the mount, the storage nodes) per
 *   GiB moved, from /proc, to judge changes on a loaded machine; and node 1's share of it; and the
 *   machine's idle share over each t3fs phase (`t3fs_write_machine_idle`): near 0 the phase was
 *   bound by CPU (fio's own included), well above it by latency or the disk. Beside
 *   it, bindfs's own CPU per GiB (a passthrough FUSE server: the floor of the mount's part). Each
 *   fio phase's start and end go to stderr in hrtime µs (the clock of --cpu-prof's timestamps:
 *   T3FS_CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles every node of the cluster).
 * Needs root (mount, drop_caches), /dev/fuse, fio and bindfs; says which is missing otherwise.
 * Progress (which side and phase) goes to stderr; stdout ends with the JSON line.
 */
import { execFile, spawnSync } from 'node:child_process'
import { crc32c } from '../runtime/checksum.ts'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { mountSkipReason, startDevCluster, type DevCluster } from '../test/support/dev-cluster.ts'
import { setMountReadAhead } from '../runtime/fuse-device.ts'
import { DEFAULT_FUSE_CONFIG } from '../actors/client/fuse/config.ts'
import { rawSocketBytesPerSec } from './fixtures/raw-socket.ts'
import { startTogether, usrbioReadBench } from './usrbio-read.ts'
import { Progress } from '../runtime/progress/progress.ts'

const run = promisify(execFile)
const MiB = 1024 * 1024
const GiB = 1024 * MiB
const FIO_OUTPUT_MAX_BYTES = 64 * MiB
const CLOCK_TICKS_PER_SEC = 100

interface Phase {
  readonly gibPerSec: number
  readonly bytes: number
  readonly errors: number
  readonly cpuSecPerGib: number | null
  /** Of cpuSecPerGib, what the first pid (node 1: the mount, its FileClient, mgmtd and meta) used. */
  readonly firstPidCpuSecPerGib: number | null
  /** The machine's idle share over the phase (all cores, /proc/stat idle + iowait): near 0 means CPU-bound. */
  readonly machineIdle: number
}

const { values } = parseArgs({ options: { 'file-mib': { type: 'string' }, jobs: { type: 'string' }, smoke: { type: 'boolean' }, 'warmup-mib': { type: 'string' }, 'warmup-rounds': { type: 'string' } } })
const smoke = values.smoke === true
const fileMiB = Number(values['file-mib'] ?? (smoke ? 64 : 256))
const jobs = Number(values.jobs ?? 4)
const warmupMiB = Number(values['warmup-mib'] ?? fileMiB)
const warmupRounds = Number(values['warmup-rounds'] ?? (smoke ? 1 : 3))
if (!Number.isInteger(fileMiB) || fileMiB < 8 || !Number.isInteger(jobs) || jobs < 1 || jobs > 32 || !Number.isInteger(warmupMiB) || warmupMiB < 0 ||
  !Number.isInteger(warmupRounds) || warmupRounds < 1 || warmupRounds > 16) {
  console.error(`bench:fuse: --file-mib takes an integer ≥ 8 (got ${values['file-mib']}), --jobs an integer 1..32 (got ${values.jobs}), --warmup-mib an integer ≥ 0 (got ${values['warmup-mib']}), --warmup-rounds an integer 1..16 (got ${values['warmup-rounds']})`)
  process.exit(2)
}

function missing(): string | null {
  const skip = mountSkipReason()
  if (skip !== null) return skip
  if (spawnSync('fio', ['--version'], { stdio: 'ignore' }).status !== 0) return 'fio is not installed (apt-get install fio)'
  if (spawnSync('bindfs', ['--version'], { stdio: 'ignore' }).status !== 0) return 'bindfs is not installed (apt-get install bindfs)'
  return null
}

/** CPU seconds (user + system) of these processes so far. */
function cpuSeconds(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    try {
      // Fields after the command (which may hold spaces) start after its closing parenthesis.
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch { /* gone */ }
  }
  return ticks / CLOCK_TICKS_PER_SEC
}

/** The machine's [idle + iowait, total] jiffies so far, over all cores (/proc/stat's first line). */
function machineJiffies(): [number, number] {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
  return [fields[3]! + fields[4]!, fields.reduce((a, b) => a + b, 0)]
}

/** The pid of the bindfs daemon serving `mountPoint` (it forks away from the command that mounted it), or null. */
function bindfsPid(mountPoint: string): number | null {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
      if (args[0]?.endsWith('bindfs') && args.includes(mountPoint)) return Number(entry)
    } catch { /* gone */ }
  }
  return null
}

async function dropCaches(): Promise<void> {
  await run('sync')
  await run('sh', ['-c', 'echo 3 > /proc/sys/vm/drop_caches'])
}

interface FioJobs { jobs: { error: number; read: { io_bytes: number; bw_bytes: number }; write: { io_bytes: number; bw_bytes: number } }[] }

async function fio(args: string[], side: 'read' | 'write', pids: readonly number[]): Promise<Phase> {
  const cpu0 = cpuSeconds(pids)
  const first0 = cpuSeconds(pids.slice(0, 1))
  const [idle0, total0] = machineJiffies()
  const hrtimeUs = (): string => (process.hrtime.bigint() / 1000n).toString()
  // The phase's start and end in hrtime µs (the clock of --cpu-prof's timestamps), to cut profiles to it.
  progress.log(`bench:fuse: fio ${side} in ${args.find((a) => a.startsWith('--directory='))?.slice(12)} starts at hrtime ${hrtimeUs()} µs; pids ${pids.join(' ')}`)
  const { stdout } = await run('fio', [...args, '--output-format=json', '--group_reporting=0'], { maxBuffer: FIO_OUTPUT_MAX_BYTES }).catch((error: { stdout?: string; stderr?: string }) => {
    // A verify failure makes fio exit non-zero; its JSON still says which job failed.
    if (error.stdout?.includes('{')) return { stdout: error.stdout }
    throw new Error(`fio ${args.join(' ')} failed: ${error.stderr ?? String(error)}`)
  })
  const cpu = cpuSeconds(pids) - cpu0
  const firstCpu = cpuSeconds(pids.slice(0, 1)) - first0
  const [idle1, total1] = machineJiffies()
  progress.log(`bench:fuse: fio ${side} ends at hrtime ${hrtimeUs()} µs`)
  const parsed = JSON.parse(stdout.slice(stdout.indexOf('{'))) as FioJobs
  const bytes = parsed.jobs.reduce((a, j) => a + j[side].io_bytes, 0)
  const bw = parsed.jobs.reduce((a, j) => a + j[side].bw_bytes, 0)
  const perGib = (seconds: number): number | null => (pids.length === 0 || bytes === 0 ? null : seconds / (bytes / GiB))
  return { gibPerSec: bw / GiB, bytes, errors: parsed.jobs.filter((j) => j.error !== 0).length, cpuSecPerGib: perGib(cpu), firstPidCpuSecPerGib: perGib(firstCpu), machineIdle: total1 > total0 ? (idle1 - idle0) / (total1 - total0) : 0 }
}

/** The identical fio job on the mount and on bindfs: buffered 1 MiB psync, crc32c in every block. */
const fsJob = (dir: string, sizeMiB = fileMiB): string[] => [
  '--name=seq', `--directory=${dir}`, '--bs=1M', `--size=${sizeMiB}M`, `--numjobs=${jobs}`, '--ioengine=psync', '--verify=crc32c', '--verify_state_save=0', '--rw=write',
]
/** Passes of the raw disk's fio over its files: its figure is their mean (see the header). */
const RAW_LOOPS = 3
const rawJob = (dir: string, rw: 'write' | 'read'): string[] => [
  '--name=raw', `--directory=${dir}`, `--rw=${rw}`, '--bs=1M', `--size=${fileMiB}M`, `--numjobs=${jobs}`, `--loops=${RAW_LOOPS}`, '--ioengine=io_uring', '--direct=1',
  '--fixedbufs', '--registerfiles', '--iodepth=16', '--iodepth_batch_submit=16', '--iodepth_batch_complete_min=1', '--end_fsync=1',
]

/** Cluster start; raw write and read; bindfs and the mount, write then read each; USRBIO; a raw socket; raw write and read again. */
const progress = new Progress({ label: 'bench:fuse', steps: warmupMiB > 0 ? 12 : 11 })

/** The raw disk's fio write, then its read after the page cache is dropped (GiB/s each). */
async function rawDisk(dir: string, when: 'first' | 'last'): Promise<{ write: number; read: number }> {
  const write = await progress.run(`raw disk (${when}): fio write`, () => fio(rawJob(dir, 'write'), 'write', []))
  const read = await progress.run(`raw disk (${when}): drop caches, fio read`, async () => {
    await dropCaches()
    return fio(rawJob(dir, 'read'), 'read', [])
  })
  console.log(`raw disk, ${when} (fio io_uring O_DIRECT, depth 16, ${RAW_LOOPS} passes): write ${write.gibPerSec.toFixed(3)} GiB/s, read ${read.gibPerSec.toFixed(3)} GiB/s`)
  return { write: write.gibPerSec, read: read.gibPerSec }
}

async function writeThenRead(side: string, dir: string, pids: readonly number[]): Promise<{ write: Phase; read: Phase }> {
  const write = await progress.run(`${side}: fio write ${jobs} × ${fileMiB} MiB`, () => fio([...fsJob(dir), '--do_verify=0', '--end_fsync=1'], 'write', pids))
  const read = await progress.run(`${side}: drop caches, fio read and verify`, async () => {
    await dropCaches()
    return fio([...fsJob(dir), '--verify_only'], 'read', pids)
  })
  return { write, read }
}

async function main(): Promise<void> {
  const why = missing()
  if (why !== null) {
    console.log(`bench:fuse: cannot run here: ${why}`)
    console.log(JSON.stringify({ bench: 'fuse', skipped: why, seq_read_vs_bindfs: null, seq_write_vs_disk_third: null, usrbio_read_vs_limit: null, validated: false }))
    return
  }
  const cluster: DevCluster = await progress.run('start a dev cluster and mount it', () => startDevCluster())
  let bindMounted = false
  const bindMnt = join(cluster.dir, 'bindfs-mnt')
  try {
    const pids = [cluster.process!.pid!, ...cluster.storagePids.values()]
    const raw = join(cluster.dir, 'raw')
    const bindSrc = join(cluster.dir, 'bindfs-src')
    for (const d of [raw, bindSrc, bindMnt, join(cluster.mnt, 'bench')]) mkdirSync(d, { recursive: true })
    console.log(`bench:fuse: ${jobs} files of ${fileMiB} MiB each, 1 MiB blocks; data in ${cluster.dir} (one disk for all sides)`)

    const rawFirst = await rawDisk(raw, 'first')

    await run('bindfs', [bindSrc, bindMnt])
    bindMounted = true
    // The same kernel read-ahead window as the t3fs mount gets (kernel_read_ahead): an equal baseline.
    await setMountReadAhead(bindMnt, DEFAULT_FUSE_CONFIG.kernelReadAheadBytes)
    // bindfs's own CPU per GiB: what a passthrough FUSE server costs on the same path (the floor of the mount's part).
    const bindPid = bindfsPid(bindMnt)
    const bind = await writeThenRead('bindfs', bindMnt, bindPid === null ? [] : [bindPid])
    console.log(`bindfs passthrough: write ${bind.write.gibPerSec.toFixed(3)} GiB/s (${bind.write.cpuSecPerGib?.toFixed(2)} CPU s/GiB of bindfs), read ${bind.read.gibPerSec.toFixed(3)} GiB/s (${bind.read.cpuSecPerGib?.toFixed(2)})`)

    // Warm-up, untimed, in directories of its own (kept: removing them would set storage to reclaim
    // chunks during the timed phases): the same jobs written in rounds and the last read back, so
    // the timed phases measure the cluster warm. Its processes run JavaScript that V8 optimizes
    // only after some thousands of calls: on this 2-core machine the first GiB of writes cost about
    // twice the CPU of a warm GiB, the second about 1.2 times. The raw disk and bindfs (native
    // code) need none.
    const warmupCpu: (number | null)[] = []
    if (warmupMiB > 0) {
      await progress.run(`t3fs mount: warm-up, fio write ${warmupRounds} × ${jobs} × ${warmupMiB} MiB and read the last (untimed)`, async () => {
        let warm = ''
        for (let r = 1; r <= warmupRounds; r++) {
          warm = join(cluster.mnt, 'bench-warmup', `round-${r}`)
          mkdirSync(warm, { recursive: true })
          const phase = await fio([...fsJob(warm, warmupMiB), '--do_verify=0', '--end_fsync=1'], 'write', pids)
          warmupCpu.push(round(phase.cpuSecPerGib))
          progress.log(`bench:fuse: warm-up round ${r}: write ${phase.gibPerSec.toFixed(3)} GiB/s, ${phase.cpuSecPerGib?.toFixed(2)} CPU s/GiB`)
        }
        await fio([...fsJob(warm, warmupMiB), '--verify_only'], 'read', pids)
      })
    }
    const t3 = await writeThenRead('t3fs mount', join(cluster.mnt, 'bench'), pids)
    console.log(`t3fs mount (3 replicas): write ${t3.write.gibPerSec.toFixed(3)} GiB/s (${t3.write.cpuSecPerGib?.toFixed(1)} CPU s/GiB, of which node 1 with the mount ${t3.write.firstPidCpuSecPerGib?.toFixed(1)}; machine ${Math.round(t3.write.machineIdle * 100)}% idle), read ${t3.read.gibPerSec.toFixed(3)} GiB/s (${t3.read.cpuSecPerGib?.toFixed(1)} CPU s/GiB; ${Math.round(t3.read.machineIdle * 100)}% idle)`)

    const usrbio = await progress.run(`USRBIO reads of the ${jobs} files from ${jobs} processes`, () => usrbioReads(cluster, pids))
    const socket = await progress.run('raw TCP socket between two processes', () => rawSocketBytesPerSec(GiB))
    const rawLast = await rawDisk(raw, 'last')
    const rawWrite = (rawFirst.write + rawLast.write) / 2
    const rawRead = (rawFirst.read + rawLast.read) / 2
    console.log(`raw disk, mean of first and last: write ${rawWrite.toFixed(3)} GiB/s, read ${rawRead.toFixed(3)} GiB/s`)
    const usrbioLimit = Math.min(rawRead * GiB, socket)
    console.log(`USRBIO read (${jobs} processes, one file each, 1 MiB × ${USRBIO_DEPTH} in flight each): ${usrbio.gibPerSec.toFixed(3)} GiB/s; raw socket ${(socket / GiB).toFixed(3)} GiB/s`)

    const expected = jobs * fileMiB * MiB
    const validated = usrbio.validated && [t3.write, t3.read, bind.write, bind.read].every((p) => p.errors === 0 && p.bytes === expected)
    const seqReadVsBindfs = t3.read.gibPerSec / bind.read.gibPerSec
    const seqWriteVsDiskThird = t3.write.gibPerSec / (rawWrite / 3)
    const bindfsWriteVsDiskThird = bind.write.gibPerSec / (rawWrite / 3)
    const usrbioReadVsLimit = (usrbio.gibPerSec * GiB) / usrbioLimit
    console.log(`seq_read_vs_bindfs ${seqReadVsBindfs.toFixed(3)} (target ≥ 0.6), seq_write_vs_disk_third ${seqWriteVsDiskThird.toFixed(3)} (target ≥ 0.5; bindfs, one copy: ${bindfsWriteVsDiskThird.toFixed(3)}), usrbio_read_vs_limit ${usrbioReadVsLimit.toFixed(3)} (target ≥ 0.6); validated ${validated}`)
    console.log(JSON.stringify({
      bench: 'fuse', smoke, jobs, file_mib: fileMiB,
      t3fs_write_gib_per_s: round(t3.write.gibPerSec), t3fs_read_gib_per_s: round(t3.read.gibPerSec),
      bindfs_write_gib_per_s: round(bind.write.gibPerSec), bindfs_read_gib_per_s: round(bind.read.gibPerSec),
      bindfs_write_cpu_s_per_gib: round(bind.write.cpuSecPerGib), bindfs_read_cpu_s_per_gib: round(bind.read.cpuSecPerGib),
      disk_write_gib_per_s: round(rawWrite), disk_read_gib_per_s: round(rawRead),
      disk_write_runs_gib_per_s: [round(rawFirst.write), round(rawLast.write)], disk_read_runs_gib_per_s: [round(rawFirst.read), round(rawLast.read)],
      t3fs_write_cpu_s_per_gib: round(t3.write.cpuSecPerGib), t3fs_read_cpu_s_per_gib: round(t3.read.cpuSecPerGib),
      t3fs_write_cpu_s_per_gib_mount_node: round(t3.write.firstPidCpuSecPerGib), t3fs_write_machine_idle: round(t3.write.machineIdle), t3fs_read_machine_idle: round(t3.read.machineIdle), t3fs_read_cpu_s_per_gib_mount_node: round(t3.read.firstPidCpuSecPerGib), warmup_mib: warmupMiB,
      warmup_rounds: warmupMiB > 0 ? warmupRounds : 0, warmup_write_cpu_s_per_gib: warmupCpu,
      seq_read_vs_bindfs: round(seqReadVsBindfs), seq_write_vs_disk_third: round(seqWriteVsDiskThird),
      bindfs_write_vs_disk_third: round(bindfsWriteVsDiskThird),
      usrbio_read_gib_per_s: round(usrbio.gibPerSec), raw_socket_gib_per_s: round(socket / GiB),
      usrbio_read_vs_limit: round(usrbioReadVsLimit), usrbio_cpu_s_per_gib: round(usrbio.cpuSecondsPerGiB), validated,
    }))
  } finally {
    if (bindMounted) await run('umount', [bindMnt]).catch(() => run('umount', ['-l', bindMnt]).catch(() => {}))
    await cluster.close()
  }
}

/** Reads in flight per USRBIO reader: fio's per-job depth on the raw disk (the same batching). */
const USRBIO_DEPTH = 16

/**
 * USRBIO batched reads of the files fio wrote through the mount, as the raw disk's fio read them:
 * one reader process per file, USRBIO_DEPTH reads of 1 MiB in flight each, side by side, their
 * timed passes started together once every reader has warmed up (as fio starts its jobs). The rate
 * is every reader's bytes over the union of their timed passes, the CPU the readers' own plus the
 * cluster's over that union; each file is checked (CRC32C) against it read through the mount.
 */
async function usrbioReads(cluster: DevCluster, pids: number[]): Promise<{ gibPerSec: number; cpuSecondsPerGiB: number; validated: boolean }> {
  const files = readdirSync(join(cluster.mnt, 'bench')).filter((f) => f.startsWith('seq.')).sort()
  let started = 0
  let ended = 0
  let cpuAtStart = 0
  let cpuAtEnd = 0
  const onMark = (mark: 'start' | 'end'): void => {
    if (mark === 'start' && started++ === 0) cpuAtStart = cpuSeconds(pids)
    if (mark === 'end' && ++ended === files.length) cpuAtEnd = cpuSeconds(pids)
  }
  const gate = startTogether(files.length)
  const runs = await Promise.all(files.map((f) => usrbioReadBench({ socketPath: join(cluster.dir, 'usrbio.sock'), path: `/bench/${f}`, sizeBytes: fileMiB * MiB, depth: USRBIO_DEPTH, onMark, gate })))
  const bytes = runs.reduce((n, r) => n + r.bytes, 0)
  const seconds = (Math.max(...runs.map((r) => r.windowUs[1])) - Math.min(...runs.map((r) => r.windowUs[0]))) / 1e6
  const readerCpu = runs.reduce((n, r) => n + r.readerCpuSecondsPerGiB * (r.bytes / GiB), 0)
  const validated = files.length === jobs && runs.every((r, i) => r.crc32c === crc32c(readFileSync(join(cluster.mnt, 'bench', files[i]!))))
  return { gibPerSec: bytes / GiB / seconds, cpuSecondsPerGiB: (readerCpu + cpuAtEnd - cpuAtStart) / (bytes / GiB), validated }
}

const round = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000)

await main()
