/**
 * The KVCache simulation suite as `npm run sim -- kvcache` runs it: N seeds of kvcache-scenario.ts,
 * with or without a named mutant (KVCACHE_MUTANTS); a failure prints its seed (T3FS_SEED=N or
 * --seed N replays it); ends with one JSON line.
 */
import { KVCACHE_MUTANTS, type KvCacheMutant } from '../../actors/kvcache/kv-options.ts'
import { exploreSeeds } from '../../runtime/testkit/simulation.ts'
import { emptyTotals, kvcacheScenario, type KvTotals } from './kvcache-scenario.ts'

export interface KvCacheSuiteResult extends KvTotals {
  readonly sim: 'kvcache'
  readonly seeds: number
  readonly failed: number
  readonly failedSeed: number | null
  readonly mutant: KvCacheMutant | null
  readonly seconds: number
  readonly error?: string
}

export async function runKvCacheSuite(options: { seeds: number; firstSeed?: number; mutant?: KvCacheMutant | null; log?: (line: string) => void }): Promise<KvCacheSuiteResult> {
  const mutant = options.mutant ?? null
  if (mutant !== null && !KVCACHE_MUTANTS.includes(mutant)) throw new Error(`unknown mutant ${JSON.stringify(mutant)}; accepted: ${KVCACHE_MUTANTS.join(', ')}`)
  const started = Date.now()
  const totals = emptyTotals()
  let ran = 0
  const failure = await exploreSeeds({ seeds: options.seeds, firstSeed: options.firstSeed, log: options.log }, async (seed) => {
    const t = await kvcacheScenario(seed, mutant === null ? [] : [mutant])
    ran++
    for (const k of Object.keys(totals) as (keyof KvTotals)[]) totals[k] += t[k]
  })
  return {
    sim: 'kvcache',
    seeds: ran + (failure === null ? 0 : 1),
    failed: failure === null ? 0 : 1,
    failedSeed: failure?.seed ?? null,
    mutant,
    ...totals,
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    ...(failure === null ? {} : { error: failure.error instanceof Error ? failure.error.message : String(failure.error) }),
  }
}
