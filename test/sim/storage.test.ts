/**
 * The storage simulation in CI (issue 10, Proof): a CI-sized number of seeds of the full scenario
 * (storage-suite.ts) pass, and each named mutant is caught within a bounded number of seeds, its
 * seed printed. `npm run sim -- storage --seeds 1000` runs the long version; T3FS_SEED=N replays one.
 */
import t from 'tap'
import { runStorageSuite, STORAGE_MUTANTS } from './storage-suite.ts'

const seeds = Number(process.env.T3FS_STORAGE_SEEDS ?? 60)
/**
 * Seeds a mutant may take to be caught here. Each is caught within the first few seeds:
 * skip-chain-version-check by the replicas' own assertion that no update of a chain version newer
 * than their view is ever written (any routing change that reaches a predecessor or a client before
 * its successor trips it), the others by the history and convergence checks.
 */
const mutantSeedsMax = Number(process.env.T3FS_STORAGE_MUTANT_SEEDS ?? 20)

t.test(`storage: ${seeds} seeds of crashes, partitions, lost and duplicated messages and disk faults keep every acknowledged write`, async (t) => {
  const result = await runStorageSuite({ seeds, mutant: null, log: (line) => t.comment(line) })
  t.equal(result.failed, 0, result.error ?? 'no seed failed')
  const { totals } = result
  t.ok(totals.acked > seeds * 100 && totals.readBlocks > seeds * 500, `work was done: ${totals.acked} acknowledged writes, ${totals.readBlocks} blocks read and checked`)
  t.ok(totals.nodeCrashes > 0 && totals.partitions > 0 && totals.serviceCrashes > 0 && totals.indeterminate > 0, `faults happened: ${JSON.stringify(totals)}`)
  t.ok(totals.syncs > seeds && totals.syncedChunks > 0, `returning targets synced (${totals.syncs} syncs, ${totals.syncedChunks} chunks copied or removed)`)
  t.comment(`${JSON.stringify(result)}`)
})

for (const mutant of STORAGE_MUTANTS) {
  t.test(`mutant ${mutant} is caught`, async (t) => {
    const result = await runStorageSuite({ seeds: mutantSeedsMax, mutant, log: (line) => t.comment(line) })
    t.equal(result.failed, 1, `caught at seed ${result.failingSeed}: ${result.error}`)
    t.comment(`mutant ${mutant}: caught at seed=${result.failingSeed} after ${result.seeds} seed(s): ${result.error}`)
  })
}
