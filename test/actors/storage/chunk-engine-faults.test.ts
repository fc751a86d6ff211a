/**
 * The chunk engine under disk faults on SimDisk, over many seeds: EIO on reads, writes and syncs,
 * ENOSPC, and bits flipped on the way from the disk, during the random workload of the crash suite
 * (chunk-engine-model.ts). A read either returns exactly the model's bytes or fails with a coded
 * fault (EIO, ERR_CHUNK_CORRUPT); a failed sync fails the engine, which is then restarted (a power
 * loss and a reopen) and must hold every acknowledged commit. Every failure prints `seed=N`
 * (T3FS_SEED=N replays it); the mutant skip-crc-check must be caught, its seed printed.
 */
import t from 'tap'
import { SeededRandom } from '../../../runtime/random.ts'
import type { SimDiskFaults } from '../../../runtime/testkit/sim-disk.ts'
import type { ChunkEngineMutant } from '../../../actors/storage/chunk-engine/index.ts'
import { firstFailingSeed, forSeeds, Harness, simBackend } from './chunk-engine-fixture.ts'
import { runScenario } from './chunk-engine-model.ts'

const seeds = Number(process.env.CHUNK_ENGINE_SEEDS ?? 60)

function faults(seed: number): SimDiskFaults {
  return {
    readErrorRate: 0.01, writeErrorRate: 0.005, syncErrorRate: 0.002, noSpaceRate: 0.003, readBitFlipRate: 0.03,
    ...(seed % 2 === 0 ? { minLatencyMs: 0, maxLatencyMs: 2 } : {}),
  }
}

async function scenario(seed: number, mutant?: ChunkEngineMutant): Promise<{ ops: number; crashes: number }> {
  const h = new Harness(seed, { faults: faults(seed), buggify: seed % 3 === 0 })
  const run = await runScenario(simBackend(h), new SeededRandom(seed * 104_729 + 5), { lives: 3, opsPerLife: 60, workers: 4, faulty: true, mutant })
  return run
}

t.test('EIO, ENOSPC and flipped bits never surface as wrong bytes; acknowledged commits survive restarts', async (t) => {
  let ops = 0
  let crashes = 0
  await forSeeds(t, seeds, async (seed) => {
    const run = await scenario(seed)
    ops += run.ops
    crashes += run.crashes
  })
  t.comment(`${ops} operations, ${crashes} restarts`)
})

t.test('mutant skip-crc-check is caught', async (t) => {
  const caught = await firstFailingSeed(200, (seed) => scenario(seed, 'skip-crc-check').then(() => {}))
  if (caught !== null) t.comment(`mutant skip-crc-check: caught at seed=${caught.seed}: ${caught.message.split('\n')[0]}`)
  t.ok(caught !== null, `mutant skip-crc-check is caught within 200 seeds${caught === null ? '' : ` (seed=${caught.seed})`}`)
})
