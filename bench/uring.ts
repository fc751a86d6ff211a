/**
 * bench:uring — the native addon's io_uring path, and UringDisk on top of it, beside fio on the
 * same file in the same run; and CRC32C beside a plain memory copy of the same buffer.
 *
 *   sequential 1 MiB O_DIRECT write and read, queue depth 16: the raw ring (registered buffer),
 *     UringDisk (pool slots registered with the ring), fio
 *   4 KiB random O_DIRECT read, queue depth 32 (time-based): the raw ring, fio
 *
 * fio gets its best options (bench/fixtures/fio.ts: io_uring engine, fixed buffers, registered
 * files, batched submission and completion). Without fio the fio ratios are null and it says so.
 * The file lives under os.tmpdir() (ext4 on the VM's disk here; not tmpfs) and is deleted at the
 * end. Buffers are allocated once and reused (fresh memory is slow on these VMs: limits.md).
 * Env: BENCH_URING_GIB (file size, default 2), BENCH_URING_SECONDS (one random-read pass, default 2),
 * BENCH_URING_ROUNDS (passes per side, rotating the order, best kept, default 3).
 * Progress (which test, how many passes) goes to stderr. Last line of stdout: one JSON object with the ratios.
 */
import { mkdtempSync, rmSync, statfsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { alignedBuffer, crc32c, crc32cHardware, uring } from '../native/index.ts'
import { allocateBufferPool, BufferPool } from '../runtime/buffer-pool.ts'
import { UringDisk } from '../runtime/disk/uring-disk.ts'
import { measureDiskSequential } from './fixtures/disk-io.ts'
import { fioArgs, fioAvailable, fioMissingMessage, runFio, type FioJob } from './fixtures/fio.ts'
import { Progress } from '../runtime/progress/progress.ts'

const MiB = 1024 * 1024
const fileGiB = Number(process.env.BENCH_URING_GIB ?? 2)
const randSeconds = Number(process.env.BENCH_URING_SECONDS ?? 2)
const rounds = Number(process.env.BENCH_URING_ROUNDS ?? 3)
const fileBytes = Math.round(fileGiB * 1024) * MiB
const seqBlockBytes = MiB
const seqDepth = 16
const randBlockBytes = 4096
const randDepth = 32
const dir = mkdtempSync(join(tmpdir(), 't3fs-bench-uring-'))
const fileName = 'bench.dat'
const path = join(dir, fileName)

interface Rate { bytesPerSec: number; iops: number }

const ring = uring()
const seqBuffer = alignedBuffer(seqBlockBytes * seqDepth)
const randBuffer = alignedBuffer(randBlockBytes * randDepth)
seqBuffer.fill(0x5a)
const seqIndex = ring.registerBuffer(seqBuffer)
const randIndex = ring.registerBuffer(randBuffer)
const pool = new BufferPool(allocateBufferPool({ classes: [{ slotBytes: seqBlockBytes, slots: seqDepth }] }))
/** The prefill, the three tests of rotating passes, CRC32C. */
const progress = new Progress({ label: 'bench:uring', steps: 5 })

/** Sequential pass over the whole file on the raw ring, `seqDepth` 1 MiB requests in flight. */
async function ringSequential(fd: number, write: boolean): Promise<Rate> {
  const blocks = fileBytes / seqBlockBytes
  let next = 0
  const started = process.hrtime.bigint()
  async function lane(slot: number): Promise<void> {
    while (next < blocks) {
      const position = next++ * seqBlockBytes
      const n = write
        ? await ring.writeFixed(fd, seqIndex, position, seqBlockBytes, slot * seqBlockBytes)
        : await ring.readFixed(fd, seqIndex, position, seqBlockBytes, slot * seqBlockBytes)
      if (n !== seqBlockBytes) throw new Error(`short ${write ? 'write' : 'read'} ${n} at ${position}`)
    }
  }
  await Promise.all(Array.from({ length: seqDepth }, (_, i) => lane(i)))
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return { bytesPerSec: fileBytes / seconds, iops: blocks / seconds }
}

async function ringRandomRead(fd: number): Promise<Rate> {
  const blocks = fileBytes / randBlockBytes
  let x = 0x9e3779b9 | 0
  let done = 0
  const deadline = process.hrtime.bigint() + BigInt(Math.round(randSeconds * 1e9))
  const started = process.hrtime.bigint()
  let stop = false
  const timer = setInterval(() => { if (process.hrtime.bigint() >= deadline) stop = true }, 50)
  async function lane(slot: number): Promise<void> {
    while (!stop) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5
      const position = ((x >>> 0) % blocks) * randBlockBytes
      await ring.readFixed(fd, randIndex, position, randBlockBytes, slot * randBlockBytes)
      done++
    }
  }
  await Promise.all(Array.from({ length: randDepth }, (_, i) => lane(i)))
  clearInterval(timer)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  return { bytesPerSec: (done * randBlockBytes) / seconds, iops: done / seconds }
}

async function diskSequential(disk: UringDisk, write: boolean): Promise<Rate> {
  const r = await measureDiskSequential({ disk, pool, path: fileName, write, sizeBytes: fileBytes, blockBytes: seqBlockBytes, depth: seqDepth })
  return { bytesPerSec: r.bytesPerSec, iops: r.bytesPerSec / seqBlockBytes }
}

async function fio(job: Omit<FioJob, 'file' | 'sizeBytes'>): Promise<Rate | null> {
  const r = await runFio({ ...job, file: path, sizeBytes: fileBytes })
  return r === null ? null : { bytesPerSec: r.bytesPerSec, iops: r.iops }
}

/**
 * Every side runs `rounds` times, the order rotating each round, and keeps its best pass: the
 * machine is shared (2 vCPUs, other work running), so single passes swing by ±50 %.
 */
async function bestOf<K extends string>(test: string, sides: Record<K, () => Promise<Rate | null>>): Promise<Record<K, Rate | null>> {
  const names = Object.keys(sides) as K[]
  const best = Object.fromEntries(names.map((n) => [n, null])) as Record<K, Rate | null>
  return progress.run(test, async (update) => {
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < names.length; i++) {
        const name = names[(i + round) % names.length]
        update({ done: round * names.length + i, detail: `round ${round + 1}/${rounds}: ${name}` })
        const r = await sides[name]()
        if (r !== null && (best[name] === null || r.bytesPerSec > best[name]!.bytesPerSec)) best[name] = r
      }
    }
    update({ done: rounds * names.length, detail: `best of ${rounds} per side` })
    return best
  }, { total: rounds * names.length, unit: 'passes' })
}

function crcBench(): { crcGBs: number; memcpyGBs: number } {
  const size = 64 * MiB
  const src = Buffer.allocUnsafe(size)
  const dst = Buffer.allocUnsafe(size)
  for (let i = 0; i < size; i += 4) src.writeUInt32LE((i * 2654435761) >>> 0, i)
  dst.fill(1)
  crc32c(src); src.copy(dst) // warm
  // Best single pass of several, alternating the two: other work shares these two cores.
  let crcSec = Infinity
  let cpySec = Infinity
  let acc = 0
  for (let i = 0; i < 16; i++) {
    let t = process.hrtime.bigint()
    acc ^= crc32c(src)
    crcSec = Math.min(crcSec, Number(process.hrtime.bigint() - t) / 1e9)
    t = process.hrtime.bigint()
    src.copy(dst)
    cpySec = Math.min(cpySec, Number(process.hrtime.bigint() - t) / 1e9)
  }
  if (acc === -1) console.log('unreachable')
  return { crcGBs: size / crcSec / 1e9, memcpyGBs: size / cpySec / 1e9 }
}

const gib = (b: number): string => (b / 1024 ** 3).toFixed(2)
const r2 = (x: number): number => Math.round(x * 100) / 100
const ratio = (a: Rate | null, b: Rate | null, by: 'bytesPerSec' | 'iops' = 'bytesPerSec'): number | null =>
  a === null || b === null ? null : r2(a[by] / b[by])
function row(name: string, rate: Rate | null, versus: Rate | null, unit: 'GiB/s' | 'kIOPS'): string {
  const value = rate === null ? '-' : unit === 'GiB/s' ? gib(rate.bytesPerSec) : (rate.iops / 1000).toFixed(1)
  const vs = ratio(rate, versus, unit === 'GiB/s' ? 'bytesPerSec' : 'iops')
  return `${name.padEnd(40)} ${value.padStart(8)} ${unit.padEnd(6)} ${(vs === null ? '-' : vs.toFixed(2)).padStart(8)}`
}

async function main(): Promise<void> {
  const fsType = statfsSync(dir).type
  if (fsType === 0x01021994) console.warn(`warning: ${dir} is on tmpfs; O_DIRECT results will not mean much`)
  const haveFio = fioAvailable()
  if (!haveFio) console.log(fioMissingMessage)
  console.log(`file ${path}, ${fileGiB} GiB; seq 1 MiB QD${seqDepth}; random 4 KiB QD${randDepth} for ${randSeconds}s; best of ${rounds} rotating passes per side`)
  if (haveFio) console.log(`fio ${fioArgs({ file: path, rw: 'read', blockBytes: seqBlockBytes, depth: seqDepth, sizeBytes: fileBytes }).join(' ')}`)
  const disk = await UringDisk.open({ root: dir, pool })
  try {
    const fd = await ring.open(path, { write: true, create: true, direct: true })
    // Prefill, untimed: every side then overwrites allocated blocks.
    await progress.run(`prefill ${fileGiB} GiB (untimed)`, () => ringSequential(fd, true))
    const writes = await bestOf('sequential write 1 MiB QD16', {
      ring: () => ringSequential(fd, true),
      disk: () => diskSequential(disk, true),
      fio: () => fio({ rw: 'write', blockBytes: seqBlockBytes, depth: seqDepth }),
    })
    const reads = await bestOf('sequential read 1 MiB QD16', {
      ring: () => ringSequential(fd, false),
      disk: () => diskSequential(disk, false),
      fio: () => fio({ rw: 'read', blockBytes: seqBlockBytes, depth: seqDepth }),
    })
    const rand = await bestOf(`random read 4 KiB QD32, ${randSeconds} s per pass`, {
      ring: () => ringRandomRead(fd),
      fio: () => fio({ rw: 'randread', blockBytes: randBlockBytes, depth: randDepth, runtimeSeconds: randSeconds }),
    })
    await ring.close(fd)
    const crc = await progress.run('CRC32C beside memcpy of 64 MiB', async () => crcBench())
    console.log(`${'test'.padEnd(40)} ${'value'.padStart(8)} ${'unit'.padEnd(6)} ${'vs fio'.padStart(8)}`)
    console.log(row('seq write 1 MiB O_DIRECT QD16, ring', writes.ring, writes.fio, 'GiB/s'))
    console.log(row('seq write 1 MiB O_DIRECT QD16, UringDisk', writes.disk, writes.fio, 'GiB/s'))
    console.log(row('seq write 1 MiB O_DIRECT QD16, fio', writes.fio, writes.fio, 'GiB/s'))
    console.log(row('seq read 1 MiB O_DIRECT QD16, ring', reads.ring, reads.fio, 'GiB/s'))
    console.log(row('seq read 1 MiB O_DIRECT QD16, UringDisk', reads.disk, reads.fio, 'GiB/s'))
    console.log(row('seq read 1 MiB O_DIRECT QD16, fio', reads.fio, reads.fio, 'GiB/s'))
    console.log(row('rand read 4 KiB O_DIRECT QD32, ring', rand.ring, rand.fio, 'kIOPS'))
    console.log(row('rand read 4 KiB O_DIRECT QD32, fio', rand.fio, rand.fio, 'kIOPS'))
    console.log(`UringDisk / ring: seq write ${String(ratio(writes.disk, writes.ring))}, seq read ${String(ratio(reads.disk, reads.ring))}`)
    console.log(`crc32c (${crc32cHardware() ? 'SSE4.2' : 'software'}) ${crc.crcGBs.toFixed(2)} GB/s; memcpy of the same 64 MiB ${crc.memcpyGBs.toFixed(2)} GB/s`)
    console.log(JSON.stringify({
      bench: 'uring',
      fio: haveFio,
      seq_read_vs_fio: ratio(reads.ring, reads.fio),
      seq_write_vs_fio: ratio(writes.ring, writes.fio),
      disk_seq_read_vs_fio: ratio(reads.disk, reads.fio),
      disk_seq_write_vs_fio: ratio(writes.disk, writes.fio),
      disk_seq_read_vs_ring: ratio(reads.disk, reads.ring),
      disk_seq_write_vs_ring: ratio(writes.disk, writes.ring),
      rand_read_vs_fio: ratio(rand.ring, rand.fio, 'iops'),
      crc32c_gb_per_s: r2(crc.crcGBs),
      crc32c_vs_memcpy: r2(crc.crcGBs / crc.memcpyGBs),
    }))
  } finally {
    await disk.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
