/**
 * The chunk engine on UringDisk in a temp directory (real files, O_DIRECT through registered pool
 * slots on this thread's io_uring): the API basics, a checksum failure on real bytes, and the
 * random workload of the crash suite with clean closes and reopens instead of power losses (a real
 * disk cannot lose power on cue), fewer seeds.
 */
import t, { type Test } from 'tap'
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nativeAvailable } from '../../../native/index.ts'
import { actorBuffers } from '../../../runtime/actor-buffers.ts'
import { allocateBufferPool, BufferPool } from '../../../runtime/buffer-pool.ts'
import { systemClock } from '../../../runtime/clock.ts'
import { crc32c } from '../../../runtime/checksum.ts'
import { UringDisk } from '../../../runtime/disk/uring-disk.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { makeChunkId } from '../../../actors/storage/chunk-id.ts'
import { ChunkEngineErrorCode as Code, openChunkEngine, type ChunkEngineOptions } from '../../../actors/storage/chunk-engine/index.ts'
import type { Engine } from '../../../actors/storage/chunk-engine/chunk-engine.ts'
import { forSeeds, KiB, randomBytes, sameBytes, takeBytes, testFormat, testPoolClasses } from './chunk-engine-fixture.ts'
import { runScenario, type Backend } from './chunk-engine-model.ts'

const skip = nativeAvailable() ? false : 'UringDisk needs the native addon (npm run build:native)'
const seeds = Number(process.env.CHUNK_ENGINE_URING_SEEDS ?? 6)

async function start(t: Test): Promise<{ root: string; disk: UringDisk; pool: BufferPool; open: (options?: Partial<ChunkEngineOptions>) => Promise<Engine> }> {
  const root = mkdtempSync(join(tmpdir(), 't3fs-chunk-engine-'))
  const pool = new BufferPool(allocateBufferPool({ classes: testPoolClasses }))
  const disk = await UringDisk.open({ root, pool })
  t.teardown(async () => { await disk.close(); rmSync(root, { recursive: true, force: true }) })
  const env = { disk, clock: systemClock, buggify: () => false, buffers: actorBuffers(pool, { host: 0, actor: 1, epoch: 1 }, systemClock, () => {}) }
  const open = async (options: Partial<ChunkEngineOptions> = {}) =>
    (await openChunkEngine(env, { root: 'targets/1', create: true, format: testFormat, logSegmentBytes: 8 * KiB, ...options })) as Engine
  return { root, disk, pool, open }
}

/**
 * Bytes allocated on the device by the engine's group files, less up to 16 KiB per file for the
 * file system's own blocks (ext4 counts extent-tree blocks of a fragmented file in st_blocks).
 */
function blockFileBytes(root: string): number {
  const blocks = join(root, 'targets/1/blocks')
  let total = 0
  for (const cls of readdirSync(blocks)) {
    for (const file of readdirSync(join(blocks, cls))) total += Math.max(0, statSync(join(blocks, cls, file)).blocks * 512 - 16 * KiB)
  }
  return total
}

t.test('on UringDisk: update, commit, read back through O_DIRECT; reopen; a damaged block is ERR_CHUNK_CORRUPT', { skip }, async (t) => {
  const { root, pool, open } = await start(t)
  let e = await open()
  const random = new SeededRandom(1)
  const id = makeChunkId(3n, 0)
  const bytes = randomBytes(random, 200 * KiB + 77)
  const slot = pool.tryAllocate(bytes.length)!
  slot.bytes.set(bytes)
  const r = await e.update({ chainId: 1, chunkId: id, kind: 'write', offset: 0, data: slot, checksum: crc32c(bytes), chainVersion: 1, tag: { clientId: 'c', requestId: 1 } })
  slot.release()
  t.equal(r.crc32c, crc32c(bytes), 'the chunk CRC')
  await e.commit({ chainId: 1, chunkId: id, version: 1 })
  t.ok(sameBytes(takeBytes(await e.read({ chainId: 1, chunkId: id, offset: 0, length: 256 * KiB })), bytes), 'read back whole')
  t.ok(sameBytes(takeBytes(await e.read({ chainId: 1, chunkId: id, offset: 12_345, length: 999 })), bytes.subarray(12_345, 13_344)), 'a range')
  await e.close()
  e = await open()
  t.ok(sameBytes(takeBytes(await e.read({ chainId: 1, chunkId: id, offset: 0, length: 256 * KiB })), bytes), 'after a reopen')
  await e.close()
  const dir = join(root, 'targets/1/blocks/256KiB')
  const file = readdirSync(dir).map((name) => join(dir, name)).find((path) => statSync(path).blocks > 0)!
  const fd = openSync(file, 'r+')
  writeSync(fd, new Uint8Array(16).fill(0xee), 0, 16, 100_000)
  closeSync(fd)
  e = await open()
  try {
    await e.read({ chainId: 1, chunkId: id, offset: 99_000, length: 4000 })
    t.fail('a read over the damaged bytes resolved')
  } catch (error) {
    t.equal((error as { code: string }).code, Code.chunkCorrupt, 'bytes changed behind the engine are ERR_CHUNK_CORRUPT')
  }
  t.ok(sameBytes(takeBytes(await e.read({ chainId: 1, chunkId: id, offset: 0, length: 64 * KiB })), bytes.subarray(0, 64 * KiB)), 'undamaged segments still read')
  await e.close()
  t.same(pool.inUse(), [0, 0], 'every slot went back')
})

t.test('on UringDisk: the random workload with clean reopens, checked against the model', { skip }, async (t) => {
  await forSeeds(t, seeds, async (seed) => {
    const { root, pool, open } = await start(t)
    const backend: Backend = {
      open: (options) => open(options),
      crash: null,
      run: async (work) => { await work },
      drive: (promise) => promise,
      quiet: (work) => work(),
      pooled: (bytes) => {
        const slot = pool.tryAllocate(bytes.length)
        if (slot === null) throw new Error('pool exhausted')
        slot.bytes.set(bytes)
        return slot
      },
      blockFileBytes: () => blockFileBytes(root),
    }
    await runScenario(backend, new SeededRandom(seed * 7 + 1), { lives: 3, opsPerLife: 60, workers: 4 })
  })
})
