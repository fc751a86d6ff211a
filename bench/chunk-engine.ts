/**
 * bench:chunk-engine — the chunk engine through UringDisk, from an actor on a worker host, beside
 * fio on the same disk (the same temp directory) in the same run.
 *
 *   engine write: 1 MiB chunks, each an update (O_DIRECT from a pool slot, copy-on-write into a new
 *                 block) and a durable commit (group commit: data files and the index log synced
 *                 once per batch), 16 chunks in flight
 *   engine read:  the same chunks read whole (O_DIRECT into pool slots, CRC32C checked), 16 in flight
 *   fio:          sequential 1 MiB O_DIRECT at queue depth 16 over as many bytes (bench/fixtures/fio.ts
 *                 options), writes with an fdatasync every 16 writes (the durability the engine gives
 *                 per batch of 16 commits) and, for reference, without any
 *
 * Every side runs BENCH_CHUNK_ENGINE_ROUNDS times (default 2), best pass kept (the machine is
 * shared). BENCH_CHUNK_ENGINE_MIB sets the bytes per pass (default 1024). Progress (which round and
 * side) goes to stderr. Last line of stdout: one JSON object.
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { NodeRuntime } from '../runtime/node-runtime.ts'
import type { ChunkBenchMsg, PassResult } from './fixtures/chunk-engine-actor.ts'
import { fioArgs, fioAvailable, fioMissingMessage, type FioJob } from './fixtures/fio.ts'
import { Progress } from '../runtime/progress/progress.ts'

const MiB = 1024 * 1024
const totalMiB = Number(process.env.BENCH_CHUNK_ENGINE_MIB ?? 1024)
const rounds = Number(process.env.BENCH_CHUNK_ENGINE_ROUNDS ?? 2)
const depth = 16
const chunkBytes = MiB
const chunks = totalMiB
const execFileAsync = promisify(execFile)

interface Rate { readonly bytesPerSec: number }

/** fio on `job`, with extra arguments; null without fio. */
async function fio(job: FioJob, extra: string[] = []): Promise<Rate | null> {
  if (!fioAvailable()) return null
  const { stdout } = await execFileAsync('fio', [...fioArgs(job), ...extra], { encoding: 'utf8', maxBuffer: 64 * MiB })
  const parsed = JSON.parse(stdout.slice(stdout.indexOf('{'))) as { jobs: Array<Record<'read' | 'write', { bw_bytes: number }>> }
  return { bytesPerSec: job.rw === 'write' ? parsed.jobs[0].write.bw_bytes : parsed.jobs[0].read.bw_bytes }
}

function best<T extends Rate>(a: T | null, b: T | null): T | null {
  if (a === null) return b
  if (b === null) return a
  return b.bytesPerSec > a.bytesPerSec ? b : a
}

const gib = (rate: Rate | null): string => (rate === null ? '-' : (rate.bytesPerSec / 1024 ** 3).toFixed(2))
const ratio = (a: Rate | null, b: Rate | null): number | null => (a === null || b === null ? null : Math.round((a.bytesPerSec / b.bytesPerSec) * 100) / 100)

async function main(): Promise<void> {
  if (!fioAvailable()) console.log(fioMissingMessage)
  const root = mkdtempSync(join(tmpdir(), 't3fs-bench-chunk-engine-'))
  const runtime = await NodeRuntime.start({
    hostsPerDomain: 1, disk: { root },
    bufferPool: { classes: [{ slotBytes: 64 * 1024, slots: 64 }, { slotBytes: MiB, slots: 2 * depth + 8 }] },
  })
  try {
    const actor = await runtime.spawn<ChunkBenchMsg>({ module: new URL('./fixtures/chunk-engine-actor.ts', import.meta.url).href, export: 'chunkEngineBenchActor' }, undefined, { host: 1 })
    const fioJob = { file: join(root, 'fio.dat'), blockBytes: chunkBytes, depth, sizeBytes: totalMiB * MiB }
    console.log(`${totalMiB} MiB per pass in 1 MiB chunks, ${depth} in flight; engine on a worker host's io_uring; best of ${rounds} passes per side; files under ${root}`)
    console.log(`fio ${fioArgs({ ...fioJob, rw: 'write' }).join(' ')} --fdatasync=${depth}`)
    let write: PassResult | null = null
    let read: PassResult | null = null
    let fioWrite: Rate | null = null
    let fioWriteNoSync: Rate | null = null
    let fioRead: Rate | null = null
    let validated = true
    const progress = new Progress({ label: 'bench:chunk-engine', steps: rounds * 5 })
    for (let round = 0; round < rounds; round++) {
      const step = <T>(name: string, work: () => Promise<T>): Promise<T> => progress.run(`round ${round + 1}/${rounds}: ${name}`, work)
      const w = await step(`engine write ${totalMiB} MiB`, () => actor.ask({ type: 'write', chunks, chunkBytes, depth }, { timeoutMs: 600_000 }))
      const r = await step(`engine read ${totalMiB} MiB`, () => actor.ask({ type: 'read', chunks, chunkBytes, depth }, { timeoutMs: 600_000 }))
      validated &&= r.validated
      write = best(write, w)
      read = best(read, r)
      fioWrite = best(fioWrite, await step('fio write, fdatasync', () => fio({ ...fioJob, rw: 'write' }, [`--fdatasync=${depth}`])))
      fioWriteNoSync = best(fioWriteNoSync, await step('fio write, no sync', () => fio({ ...fioJob, rw: 'write' })))
      fioRead = best(fioRead, await step('fio read', () => fio({ ...fioJob, rw: 'read' })))
    }
    await actor.ask({ type: 'close' }, { timeoutMs: 60_000 })
    const commitsPerSync = write === null || write.indexSyncs === 0 ? null : Math.round((write.commits / write.indexSyncs) * 10) / 10
    console.log(`${'side'.padEnd(58)} ${'GiB/s'.padStart(7)} ${'vs fio'.padStart(7)}`)
    console.log(`${'engine update+commit 1 MiB, QD16 (durable, group commit)'.padEnd(58)} ${gib(write).padStart(7)} ${String(ratio(write, fioWrite) ?? '-').padStart(7)}`)
    console.log(`${`fio write 1 MiB QD16, fdatasync every ${depth}`.padEnd(58)} ${gib(fioWrite).padStart(7)} ${'1.00'.padStart(7)}`)
    console.log(`${'fio write 1 MiB QD16, no sync (reference)'.padEnd(58)} ${gib(fioWriteNoSync).padStart(7)} ${String(ratio(fioWriteNoSync, fioWrite) ?? '-').padStart(7)}`)
    console.log(`${'engine read 1 MiB, QD16 (CRC32C checked)'.padEnd(58)} ${gib(read).padStart(7)} ${String(ratio(read, fioRead) ?? '-').padStart(7)}`)
    console.log(`${'fio read 1 MiB QD16'.padEnd(58)} ${gib(fioRead).padStart(7)} ${'1.00'.padStart(7)}`)
    console.log(`engine write pass: ${write?.commits} commits in ${write?.indexSyncs} index syncs (${commitsPerSync} commits per sync); every chunk read back validated: ${validated}`)
    console.log(JSON.stringify({
      bench: 'chunk-engine',
      fio: fioAvailable(),
      write_vs_fio: ratio(write, fioWrite),
      write_vs_fio_nosync: ratio(write, fioWriteNoSync),
      read_vs_fio: ratio(read, fioRead),
      engine_write_gib_per_s: write === null ? null : Math.round((write.bytesPerSec / 1024 ** 3) * 100) / 100,
      engine_read_gib_per_s: read === null ? null : Math.round((read.bytesPerSec / 1024 ** 3) * 100) / 100,
      commits_per_index_sync: commitsPerSync,
      validated,
    }))
  } finally {
    await runtime.shutdown()
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
