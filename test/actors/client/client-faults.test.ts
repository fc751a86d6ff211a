/**
 * The FileClient's simulation suite in CI (client-fault-suite.ts): seeds of storage node crashes
 * and restarts, and of a writer cut off from storage past its retry budget, keep every
 * acknowledged write and read it back exactly; each named mutant is caught, its seed printed.
 * T3FS_SEED=N replays one seed; T3FS_CLIENT_SEEDS sets how many run.
 */
import t from 'tap'
import { CLIENT_MUTANTS } from '../../../actors/client/file-client.ts'
import { runClientSuite } from './client-fault-suite.ts'

const seeds = Number(process.env.T3FS_CLIENT_SEEDS ?? 12)
const mutantSeedsMax = Number(process.env.T3FS_CLIENT_MUTANT_SEEDS ?? 30)

t.test(`client: ${seeds} seeds of storage crashes and cut-offs keep every acknowledged write, reads see them`, async (t) => {
  const result = await runClientSuite({ seeds, mutant: null, log: (line) => t.comment(line) })
  t.equal(result.failed, 0, result.error ?? 'no seed failed')
  const { totals } = result
  t.ok(totals.checkedReads > seeds * 5 && totals.ownReads > seeds && totals.flushes > seeds * 5, `work was done: ${JSON.stringify(totals)}`)
  t.ok(totals.nodeCrashes >= seeds && totals.cuts > 0 && totals.writeErrors > 0, `faults happened and failed writes said so: ${JSON.stringify(totals)}`)
})

for (const mutant of CLIENT_MUTANTS) {
  t.test(`mutant ${mutant} is caught`, async (t) => {
    const result = await runClientSuite({ seeds: mutantSeedsMax, mutant, log: (line) => t.comment(line) })
    t.equal(result.failed, 1, `caught at seed ${result.failingSeed}: ${result.error}`)
    t.comment(`mutant ${mutant}: caught at seed=${result.failingSeed} after ${result.seeds} seed(s): ${result.error}`)
  })
}
