/**
 * npm run bench:kvcache — KVCache gets beside the FileClient reading the same files, in the same
 * run: a cluster of launched processes (mgmtd, two meta servers, three storage nodes, chains of
 * three; test/actors/client/process-fs.ts), a hot set of 1 MiB blocks put through the cache, then
 * `readers` concurrent readers getting them (each into its own buffer) while a writer puts blocks
 * with a short TTL into a second cache whose background GC deletes the expired ones. The baseline
 * is the same readers, same buffers, same files, same writer running, through the FileClient alone
 * (open direct, one read of the whole file, close): what a get costs over the raw path. The two
 * sides alternate in slices (each slice starting with another side) so load from elsewhere on the
 * machine falls on all; CPU seconds of this process per GiB are reported per side too. A third side
 * gets the same blocks through USRBIO (the usrbio server in node 1, a region slot per reader).
 *
 *   get_vs_fileclient = KVCache get GiB/s ÷ FileClient read GiB/s   (target ≥ 0.8)
 *   get_usrbio_vs_fileclient = KVCache get through USRBIO ÷ the same FileClient figure
 *
 * Every hot block is checked by SHA-256 once before timing. Options: --smoke (a few seconds),
 * --seconds N (per side, default 15; smoke 3), --readers N (16), --blocks N (64), --block-kib N (1024).
 * Progress (which phase, how many blocks or slices) goes to stderr; stdout ends with one JSON line.
 */
import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { connectUsrbio } from '../actors/client/usrbio/client.ts'
import type { FileClient } from '../actors/client/file-client.ts'
import { openKvCache, type KvCache } from '../actors/kvcache/index.ts'
import { blockPath } from '../actors/kvcache/kv-layout.ts'
import { startProcessFs } from '../test/actors/client/process-fs.ts'
import { usrbioActorToml } from '../test/actors/client/usrbio-toml.ts'
import { untilMetaReady } from '../test/actors/kvcache/meta-ready.ts'
import { Progress } from '../runtime/progress/progress.ts'

const MiB = 1024 * 1024
const slices = 4

interface Side { name: string; bytes: number; ms: number; cpuUs: number; readOne: (key: string, into: Buffer) => Promise<number> }

interface Options { seconds: number; readers: number; blocks: number; blockBytes: number; smoke: boolean }

function options(): Options {
  const { values } = parseArgs({ options: { smoke: { type: 'boolean' }, seconds: { type: 'string' }, readers: { type: 'string' }, blocks: { type: 'string' }, 'block-kib': { type: 'string' } } })
  const smoke = values.smoke === true
  const int = (name: string, v: string | undefined, fallback: number, max: number): number => {
    if (v === undefined) return fallback
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) {
      console.error(`bench:kvcache: --${name} ${JSON.stringify(v)} is not accepted; accepted: an integer from 1 to ${max}`)
      process.exit(2)
    }
    return Number(v)
  }
  return {
    smoke,
    seconds: int('seconds', values.seconds, smoke ? 3 : 15, 600),
    readers: int('readers', values.readers, smoke ? 8 : 16, 256),
    blocks: int('blocks', values.blocks, smoke ? 16 : 64, 4096),
    blockBytes: int('block-kib', values['block-kib'], 1024, 64 * 1024) * 1024,
  }
}

/** Readers loop over the hot keys for `ms`; answers bytes read. */
async function readLoop(readers: number, keys: readonly string[], buffers: readonly Buffer[], ms: number, readOne: (key: string, into: Buffer) => Promise<number>): Promise<number> {
  const end = performance.now() + ms
  let bytes = 0
  let next = 0
  await Promise.all(buffers.slice(0, readers).map(async (buf) => {
    while (performance.now() < end) bytes += await readOne(keys[next++ % keys.length], buf)
  }))
  return bytes
}

async function fileClientGet(fs: FileClient, root: string, key: string, into: Buffer): Promise<number> {
  const h = await fs.open(blockPath(root, key), { direct: true })
  try {
    return await fs.read(h, into, 0, h.sizeBytes)
  } finally {
    await fs.close(h)
  }
}

/** The writer: puts blocks into the churn cache until told to stop. */
async function writeLoop(cache: KvCache, block: Buffer, stop: () => boolean): Promise<number> {
  let puts = 0
  while (!stop()) await cache.put(`churn-${puts++}`, block)
  return puts
}

async function main(): Promise<void> {
  const o = options()
  const socketPath = `/dev/shm/t3fs-kvcache-bench-${process.pid}.sock`
  const progress = new Progress({ label: 'bench:kvcache', steps: 4 })
  const cluster = await progress.run('start a cluster (mgmtd, 2 meta, 3 storage nodes)', () => startProcessFs({ extraActors: usrbioActorToml(socketPath, 4), hosts: 4 }))
  try {
    const writerFs = await cluster.connect({ description: 'bench:kvcache writer' })
    const readerFs = await cluster.connect({ description: 'bench:kvcache readers', maxInFlightIos: 128 })
    await untilMetaReady(writerFs)
    const hot = await openKvCache(writerFs, { root: '/kv-hot', gcIntervalMs: 0, capacityBytes: 64 * 1024 * MiB })
    const keys = Array.from({ length: o.blocks }, (_, i) => createHash('sha256').update(`prefix-${i}`).digest('hex'))
    const digests = new Map<string, string>()
    await progress.run(`put the hot blocks (${o.blockBytes / 1024} KiB)`, async (update) => {
      for (const [i, k] of keys.entries()) {
        const block = randomBytes(o.blockBytes)
        digests.set(k, createHash('sha256').update(block).digest('hex'))
        await hot.put(k, block)
        update({ done: i + 1 })
      }
    }, { total: keys.length, unit: 'blocks' })
    const reader = await openKvCache(readerFs, { root: '/kv-hot', gcIntervalMs: 0, capacityBytes: 64 * 1024 * MiB })
    const buffers = Array.from({ length: o.readers }, () => Buffer.alloc(o.blockBytes))
    let validated = true
    await progress.run('check every hot block by SHA-256', async (update) => {
      for (const [i, k] of keys.entries()) {
        const got = await reader.get(k, buffers[0])
        if (got === null || createHash('sha256').update(got).digest('hex') !== digests.get(k)) validated = false
        update({ done: i + 1 })
      }
    }, { total: keys.length, unit: 'blocks' })
    const io = await connectUsrbio({ socketPath })
    const viaUsrbio = await openKvCache(readerFs, { root: '/kv-hot', gcIntervalMs: 0, capacityBytes: 64 * 1024 * MiB, usrbio: io, usrbioSlots: o.readers, usrbioSlotBytes: o.blockBytes })
    const churn = await openKvCache(writerFs, { root: '/kv-churn', ttlMs: 1_000, gcIntervalMs: 250, gcConcurrency: 32, capacityBytes: 64 * 1024 * MiB })
    let stopWriter = false
    const t0 = performance.now()
    const writer = writeLoop(churn, randomBytes(o.blockBytes), () => stopWriter)
    const sliceMs = (o.seconds * 1000) / slices
    const sides: Side[] = [
      { name: 'get', bytes: 0, ms: 0, cpuUs: 0, readOne: async (k, buf) => (await reader.get(k, buf))?.length ?? 0 },
      { name: 'fileclient', bytes: 0, ms: 0, cpuUs: 0, readOne: (k, buf) => fileClientGet(readerFs, '/kv-hot', k, buf) },
      { name: 'usrbio', bytes: 0, ms: 0, cpuUs: 0, readOne: async (k, buf) => (await viaUsrbio.get(k, buf))?.length ?? 0 },
    ]
    await progress.run(`timed reads, ${o.readers} readers, the writer and GC running`, async (update) => {
      for (let s = 0; s < slices; s++) {
        // Each slice starts with another side, so the writer's bursts fall on all of them alike.
        for (let i = 0; i < sides.length; i++) {
          const side = sides[(s + i) % sides.length]
          update({ done: s * sides.length + i, detail: `${side.name} reading` })
          const at = performance.now()
          const cpu0 = process.cpuUsage()
          side.bytes += await readLoop(o.readers, keys, buffers, sliceMs, side.readOne)
          const cpu = process.cpuUsage(cpu0)
          side.cpuUs += cpu.user + cpu.system
          side.ms += performance.now() - at
        }
      }
      update({ done: slices * sides.length, detail: 'all sides read' })
    }, { total: slices * sides.length, unit: 'slices' })
    stopWriter = true
    const puts = await writer
    const runSeconds = (performance.now() - t0) / 1000
    const gcDeletes = churn.stats().gcDeletes
    for (const c of [churn, reader, viaUsrbio, hot]) await c.close()
    await io.close()
    await readerFs.shutdown()
    await writerFs.shutdown()

    const gibPerS = (x: Side): number => x.bytes / (x.ms / 1000) / 1024 ** 3
    /** CPU seconds of this process (readers and the writer) per GiB read: what load elsewhere does not change much. */
    const cpuPerGib = (x: Side): number => x.cpuUs / 1e6 / (x.bytes / 1024 ** 3)
    const [getSide, rawSide, usrbioSide] = sides
    const getGib = gibPerS(getSide)
    const rawGib = gibPerS(rawSide)
    const usrbioGib = gibPerS(usrbioSide)
    const round = (x: number): number => Math.round(x * 1000) / 1000
    console.log(`${'side'.padEnd(70)} ${'GiB/s'.padStart(7)}`)
    console.log(`${`KVCache get, ${o.blockBytes / 1024} KiB blocks, ${o.readers} readers`.padEnd(70)} ${getGib.toFixed(3).padStart(7)}`)
    console.log(`${'FileClient open+read+close of the same files, same readers and buffers'.padEnd(70)} ${rawGib.toFixed(3).padStart(7)}`)
    console.log(`${'KVCache get through USRBIO (region slots, one ring), same readers'.padEnd(70)} ${usrbioGib.toFixed(3).padStart(7)}`)
    console.log(`writer: ${puts} puts in ${runSeconds.toFixed(1)} s; GC deleted ${gcDeletes} expired blocks; hot blocks validated by SHA-256: ${validated}`)
    console.log(JSON.stringify({
      bench: 'kvcache', smoke: o.smoke, block_kib: o.blockBytes / 1024, readers: o.readers, blocks: o.blocks, seconds_per_side: o.seconds,
      get_gib_per_s: round(getGib), fileclient_gib_per_s: round(rawGib), get_vs_fileclient: round(getGib / rawGib),
      get_usrbio_gib_per_s: round(usrbioGib), get_usrbio_vs_fileclient: round(usrbioGib / rawGib),
      get_cpu_s_per_gib: round(cpuPerGib(getSide)), fileclient_cpu_s_per_gib: round(cpuPerGib(rawSide)), usrbio_cpu_s_per_gib: round(cpuPerGib(usrbioSide)),
      puts_per_s: round(puts / runSeconds), gc_deletes_per_s: round(gcDeletes / runSeconds), validated,
    }))
  } finally {
    await cluster.close().catch(() => {})
    rmSync(socketPath, { force: true }) // the node was killed: its usrbio actor could not remove it
  }
}

await main()
