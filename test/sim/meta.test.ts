import t from 'tap'
import { NAMESPACE_MUTANTS } from '../../actors/meta/op-context.ts'
import { metaScenario } from './meta-scenario.ts'
import { runMetaSuite } from './meta-suite.ts'

/** CI runs a modest number of seeds; `npm run sim -- meta --seeds 1000` runs the full proof. */
const seeds = Number(process.env.T3FS_META_SEEDS ?? 150)

t.test(`meta invariants hold after every step over ${seeds} seeds (faults, crashes, unknown commit results)`, async (t) => {
  const result = await runMetaSuite({ seeds, log: (line) => t.comment(line) })
  t.comment(JSON.stringify(result))
  t.equal(result.failed, 0, result.error ?? 'no seed failed')
  t.ok(result.recorded > seeds * 10, `mutating requests were recorded (${result.recorded}) and refused (${result.refused}), so the checks had work to do`)
  t.ok(result.crashes > 0 && result.nodeCrashes > 0 && result.gcFiles > 0, `meta actors crashed (${result.crashes}), nodes died (${result.nodeCrashes}), GC removed files (${result.gcFiles})`)
})

for (const mutant of NAMESPACE_MUTANTS) {
  t.test(`the mutant ${mutant} is caught, its seed printed, and the seed replays the failure`, async (t) => {
    const lines: string[] = []
    const result = await runMetaSuite({ seeds: 1000, mutant, log: (line) => { lines.push(line); t.comment(line) } })
    t.equal(result.failed, 1, `caught at seed ${result.failedSeed}: ${result.error}`)
    t.match(lines[0] ?? '', /seed=\d+ \(replay with T3FS_SEED=\d+\)/, 'the seed is printed')
    const replay = await metaScenario(result.failedSeed as number, [mutant]).then(() => 'passed', (e: unknown) => (e as Error).message)
    t.equal(replay, result.error, 'the same seed fails the same way again')
  })
}
