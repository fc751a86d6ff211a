import t from 'tap'
import { STORAGE_CALL_MUTANTS } from '../../actors/meta/op-context.ts'
import { metaStorageScenario } from './meta-storage-scenario.ts'
import { runMetaStorageSuite } from './meta-storage-suite.ts'

/** CI runs a modest number of seeds; `npm run sim -- meta-storage --seeds 1000` runs the full proof. */
const seeds = Number(process.env.T3FS_META_STORAGE_SEEDS ?? 25)

t.test(`meta over real storage: exact lengths and GC checked against the replicas over ${seeds} seeds (faults, crashes, storage nodes dying)`, async (t) => {
  const result = await runMetaStorageSuite({ seeds, log: (line) => t.comment(line) })
  t.comment(JSON.stringify(result))
  t.equal(result.failed, 0, result.error ?? 'no seed failed')
  t.ok(result.exactChecks > seeds * 10 && result.gcChecked > seeds && result.truncates > seeds, `exact lengths checked (${result.exactChecks}), GC'd files checked against storage (${result.gcChecked}), truncates (${result.truncates})`)
  t.ok(result.storageCrashes > seeds && result.metaCrashes > seeds, `storage nodes died (${result.storageCrashes}), meta actors crashed (${result.metaCrashes})`)
  t.ok(result.uncertain <= seeds, `files left out of the length checks stay rare (${result.uncertain})`)
})

for (const mutant of STORAGE_CALL_MUTANTS) {
  t.test(`the mutant ${mutant} is caught, its seed printed, and the seed replays the failure`, async (t) => {
    const lines: string[] = []
    const result = await runMetaStorageSuite({ seeds: 200, mutant, log: (line) => { lines.push(line); t.comment(line) } })
    t.equal(result.failed, 1, `caught at seed ${result.failedSeed}: ${result.error}`)
    t.match(lines[0] ?? '', /seed=\d+ \(replay with T3FS_SEED=\d+\)/, 'the seed is printed')
    const replay = await metaStorageScenario(result.failedSeed as number, [mutant]).then(() => 'passed', (e: unknown) => (e as Error).message)
    t.equal(replay, result.error, 'the same seed fails the same way again')
  })
}
