/**
 * The KVCache simulation suite in CI (kvcache-suite.ts): seeds of two or three instances on one
 * root under message delays, reordering and drops, a storage node crash, a writer crash in the
 * middle of its puts and a writer cut off from storage; every answer is checked against the model
 * as it arrives, the tree at the end. Each named mutant is caught (its seed printed) and its seed
 * replays the same failure. T3FS_SEED=N replays one seed; T3FS_KVCACHE_SEEDS sets how many run
 * (`npm run sim -- kvcache --seeds 1000` runs the long proof).
 */
import t from 'tap'
import { KVCACHE_MUTANTS } from '../../actors/kvcache/kv-options.ts'
import { kvcacheScenario } from './kvcache-scenario.ts'
import { runKvCacheSuite } from './kvcache-suite.ts'

const seeds = Number(process.env.T3FS_KVCACHE_SEEDS ?? 8)
/** Seeds a mutant gets to be caught in (each has been caught within the first two). */
const mutantSeedsMax = 20

t.test(`kvcache: ${seeds} seeds of instances sharing a root under faults answer only what the model allows`, async (t) => {
  const result = await runKvCacheSuite({ seeds, log: (line) => t.comment(line) })
  t.comment(JSON.stringify(result))
  t.equal(result.failed, 0, result.error ?? 'no seed failed')
  t.ok(result.hits > seeds * 50 && result.nulls > seeds * 10 && result.putsAcked > seeds * 50, `gets were checked: ${result.hits} blocks, ${result.nulls} nulls; ${result.putsAcked} puts acknowledged`)
  t.ok(result.gcChecked > 0 && result.rescans > seeds && result.deletes > seeds, `GC unlinks checked against the TTL (${result.gcChecked}), rescanning passes (${result.rescans}), deletes (${result.deletes})`)
  if (process.env.T3FS_SEED === undefined) {
    t.ok(result.storageCrashes >= seeds && result.writerCrashes > 0 && result.writerCuts > 0, `faults happened: ${result.storageCrashes} storage crashes, ${result.writerCrashes} writer crashes, ${result.writerCuts} cut-offs`)
    t.ok(result.orphansDeleted > 0 && result.finalBlocks > 0, `dead writers' temporary files were collected (${result.orphansDeleted}); block files checked whole after the runs (${result.finalBlocks})`)
  }
})

for (const mutant of KVCACHE_MUTANTS) {
  t.test(`mutant ${mutant} is caught, its seed printed, and the seed replays the failure`, async (t) => {
    const lines: string[] = []
    const result = await runKvCacheSuite({ seeds: mutantSeedsMax, mutant, log: (line) => { lines.push(line); t.comment(line) } })
    t.equal(result.failed, 1, `caught at seed ${result.failedSeed}: ${result.error}`)
    t.match(lines[0] ?? '', /seed=\d+ \(replay with T3FS_SEED=\d+\)/, 'the seed is printed')
    t.comment(`mutant ${mutant}: caught at seed=${result.failedSeed} after ${result.seeds} seed(s)`)
    const replay = await kvcacheScenario(result.failedSeed as number, [mutant]).then(() => 'passed', (e: unknown) => (e as Error).message)
    t.equal(replay, result.error, 'the same seed fails the same way again')
  })
}
