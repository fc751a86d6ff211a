/**
 * Crash consistency of the chunk engine on SimDisk, over many seeds: a random workload of updates,
 * commits, drops, truncates and removes on many chunks at once, power lost at a random point
 * (mid-commit included; with latency half the time, so operations overlap and complete out of
 * order; with buggify a third of the time), several lives per seed, each checked against the model
 * (chunk-engine-model.ts). Every failure prints `seed=N`; T3FS_SEED=N replays it. The named mutants
 * (deliberate bugs behind the engine's `mutant` option) must each be caught, their seed printed.
 */
import t from 'tap'
import { SeededRandom } from '../../../runtime/random.ts'
import type { ChunkEngineMutant } from '../../../actors/storage/chunk-engine/index.ts'
import { firstFailingSeed, forSeeds, Harness, simBackend } from './chunk-engine-fixture.ts'
import { runScenario } from './chunk-engine-model.ts'

const seeds = Number(process.env.CHUNK_ENGINE_SEEDS ?? 60)

async function scenario(seed: number, mutant?: ChunkEngineMutant): Promise<{ ops: number; crashes: number }> {
  const h = new Harness(seed, { faults: seed % 2 === 0 ? { minLatencyMs: 0, maxLatencyMs: 2 } : {}, buggify: seed % 3 === 0 })
  return runScenario(simBackend(h), new SeededRandom(seed * 7919 + 17), { lives: 4, opsPerLife: 50, workers: 4, mutant })
}

t.test('every acknowledged commit survives a power loss at any point; nothing reads back as a mix; no block leaks', async (t) => {
  let ops = 0
  let crashes = 0
  await forSeeds(t, seeds, async (seed) => {
    const run = await scenario(seed)
    ops += run.ops
    crashes += run.crashes
  })
  t.comment(`${ops} operations, ${crashes} power losses`)
})

const mutants: ChunkEngineMutant[] = ['reuse-block-in-place', 'commit-before-sync', 'skip-data-sync']
for (const mutant of mutants) {
  t.test(`mutant ${mutant} is caught`, async (t) => {
    const caught = await firstFailingSeed(200, (seed) => scenario(seed, mutant).then(() => {}))
    if (caught !== null) t.comment(`mutant ${mutant}: caught at seed=${caught.seed}: ${caught.message.split('\n')[0]}`)
    t.ok(caught !== null, `mutant ${mutant} is caught within 200 seeds${caught === null ? '' : ` (seed=${caught.seed})`}`)
  })
}
