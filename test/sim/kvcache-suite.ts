/**
 * The KVCache simulation suite as `npm run sim -- kvcache` runs it: N seeds of kvcache-scenario.ts,
 * with or without a named mutant (KVCACHE_MUTANTS); a failure prints its seed (T3FS_SEED=N or
 * --seed N replays it); ends with one JSON line.
 */
import { KVCACHE_MUTANTS, type KvCacheMutant } from '../../actors/kvcache/kv-options.ts'
import { emptyTotals, kvcacheScenario, type KvTotals } from './kvcache-scenario.ts'
import { runSeedSuite, type SeedSuiteOptions } from './seed-suite.ts'

export interface KvCacheSuiteResult extends KvTotals {
  readonly sim: 'kvcache'
  readonly seeds: number
  readonly failed: number
  readonly failedSeed: number | null
  readonly mutant: KvCacheMutant | null
  readonly seconds: number
  readonly error?: string
}

export async function runKvCacheSuite(options: SeedSuiteOptions<KvCacheMutant>): Promise<KvCacheSuiteResult> {
  const { totals, ...outcome } = await runSeedSuite({ sim: 'kvcache', mutants: KVCACHE_MUTANTS, zero: emptyTotals, scenario: kvcacheScenario }, options)
  return { sim: 'kvcache', ...outcome, ...totals }
}
