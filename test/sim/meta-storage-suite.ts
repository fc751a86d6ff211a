/**
 * The meta+storage simulation suite as `npm run sim -- meta-storage` runs it: N seeds of
 * meta-storage-scenario.ts, with or without a named mutant of meta's storage calls; a failure
 * prints its seed (T3FS_SEED=N or --seed N replays it); ends with one JSON line.
 */
import { STORAGE_CALL_MUTANTS, type StorageCallMutant } from '../../actors/meta/op-context.ts'
import { exploreSeeds } from '../../runtime/testkit/simulation.ts'
import { metaStorageScenario, type ScenarioStats } from './meta-storage-scenario.ts'

export interface MetaStorageSuiteResult extends ScenarioStats {
  readonly sim: 'meta-storage'
  readonly seeds: number
  readonly failed: number
  readonly failedSeed: number | null
  readonly mutant: StorageCallMutant | null
  readonly seconds: number
  readonly error?: string
}

export async function runMetaStorageSuite(options: { seeds: number; firstSeed?: number; mutant?: StorageCallMutant | null; log?: (line: string) => void }): Promise<MetaStorageSuiteResult> {
  const mutant = options.mutant ?? null
  if (mutant !== null && !STORAGE_CALL_MUTANTS.includes(mutant)) throw new Error(`unknown mutant ${JSON.stringify(mutant)}; accepted: ${STORAGE_CALL_MUTANTS.join(', ')}`)
  const started = Date.now()
  const totals: ScenarioStats = { ops: 0, writes: 0, exactChecks: 0, truncates: 0, removed: 0, gcChecked: 0, metaCrashes: 0, storageCrashes: 0, metaNodeCrashes: 0, uncertain: 0, virtualMs: 0 }
  let ran = 0
  const failure = await exploreSeeds({ seeds: options.seeds, firstSeed: options.firstSeed, log: options.log }, async (seed) => {
    const stats = await metaStorageScenario(seed, mutant === null ? [] : [mutant])
    ran++
    for (const k of Object.keys(totals) as (keyof ScenarioStats)[]) totals[k] += stats[k]
  })
  return {
    sim: 'meta-storage',
    seeds: ran + (failure === null ? 0 : 1),
    failed: failure === null ? 0 : 1,
    failedSeed: failure?.seed ?? null,
    mutant,
    ...totals,
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    ...(failure === null ? {} : { error: failure.error instanceof Error ? failure.error.message : String(failure.error) }),
  }
}
