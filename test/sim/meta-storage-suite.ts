/**
 * The meta+storage simulation suite as `npm run sim -- meta-storage` runs it: N seeds of
 * meta-storage-scenario.ts, with or without a named mutant of meta's storage calls; a failure
 * prints its seed (T3FS_SEED=N or --seed N replays it); ends with one JSON line.
 */
import { STORAGE_CALL_MUTANTS, type StorageCallMutant } from '../../actors/meta/op-context.ts'
import { metaStorageScenario, type ScenarioStats } from './meta-storage-scenario.ts'
import { runSeedSuite, type SeedSuiteOptions } from './seed-suite.ts'

export interface MetaStorageSuiteResult extends ScenarioStats {
  readonly sim: 'meta-storage'
  readonly seeds: number
  readonly failed: number
  readonly failedSeed: number | null
  readonly mutant: StorageCallMutant | null
  readonly seconds: number
  readonly error?: string
}

const zero = (): ScenarioStats => ({ ops: 0, writes: 0, exactChecks: 0, truncates: 0, removed: 0, gcChecked: 0, metaCrashes: 0, storageCrashes: 0, metaNodeCrashes: 0, uncertain: 0, virtualMs: 0 })

export async function runMetaStorageSuite(options: SeedSuiteOptions<StorageCallMutant>): Promise<MetaStorageSuiteResult> {
  const { totals, ...outcome } = await runSeedSuite({ sim: 'meta-storage', mutants: STORAGE_CALL_MUTANTS, zero, scenario: metaStorageScenario }, options)
  return { sim: 'meta-storage', ...outcome, ...totals }
}
