/**
 * The meta simulation suite as `npm run sim -- meta` runs it: N seeds of meta-scenario.ts, with
 * or without a named mutant; a failure prints its seed (T3FS_SEED=N or --seed N replays it); ends
 * with one JSON line.
 */
import { NAMESPACE_MUTANTS, type NamespaceMutant } from '../../actors/meta/op-context.ts'
import { metaScenario, type ScenarioStats } from './meta-scenario.ts'
import { runSeedSuite, type SeedSuiteOptions } from './seed-suite.ts'

export interface SuiteResult {
  readonly sim: 'meta'
  readonly seeds: number
  readonly failed: number
  readonly failedSeed: number | null
  readonly mutant: NamespaceMutant | null
  readonly requests: number
  readonly recorded: number
  readonly refused: number
  readonly checkedSteps: number
  readonly crashes: number
  readonly nodeCrashes: number
  readonly gcFiles: number
  readonly seconds: number
  readonly error?: string
}

const zero = (): ScenarioStats => ({ requests: 0, recorded: 0, refused: 0, steps: 0, crashes: 0, nodeCrashes: 0, gcFiles: 0 })

export async function runMetaSuite(options: SeedSuiteOptions<NamespaceMutant>): Promise<SuiteResult> {
  const { totals, seconds, error, ...outcome } = await runSeedSuite({ sim: 'meta', mutants: NAMESPACE_MUTANTS, zero, scenario: metaScenario }, options)
  const { steps, ...counts } = totals
  return { sim: 'meta', ...outcome, ...counts, checkedSteps: steps, seconds, ...(error === undefined ? {} : { error }) }
}
