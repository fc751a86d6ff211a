/**
 * The meta simulation suite as `npm run sim -- meta` runs it: N seeds of meta-scenario.ts, with
 * or without a named mutant; a failure prints its seed (T3FS_SEED=N or --seed N replays it); ends
 * with one JSON line.
 */
import { NAMESPACE_MUTANTS, type NamespaceMutant } from '../../actors/meta/op-context.ts'
import { exploreSeeds } from '../../runtime/testkit/simulation.ts'
import { metaScenario, type ScenarioStats } from './meta-scenario.ts'

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

export async function runMetaSuite(options: { seeds: number; firstSeed?: number; mutant?: NamespaceMutant | null; log?: (line: string) => void }): Promise<SuiteResult> {
  const mutant = options.mutant ?? null
  if (mutant !== null && !NAMESPACE_MUTANTS.includes(mutant)) throw new Error(`unknown mutant ${JSON.stringify(mutant)}; accepted: ${NAMESPACE_MUTANTS.join(', ')}`)
  const started = Date.now()
  const totals: ScenarioStats = { requests: 0, recorded: 0, refused: 0, steps: 0, crashes: 0, nodeCrashes: 0, gcFiles: 0 }
  let ran = 0
  const failure = await exploreSeeds({ seeds: options.seeds, firstSeed: options.firstSeed, log: options.log }, async (seed) => {
    const stats = await metaScenario(seed, mutant === null ? [] : [mutant])
    ran++
    for (const k of Object.keys(totals) as (keyof ScenarioStats)[]) totals[k] += stats[k]
  })
  return {
    sim: 'meta',
    seeds: ran + (failure === null ? 0 : 1),
    failed: failure === null ? 0 : 1,
    failedSeed: failure?.seed ?? null,
    mutant,
    requests: totals.requests,
    recorded: totals.recorded,
    refused: totals.refused,
    checkedSteps: totals.steps,
    crashes: totals.crashes,
    nodeCrashes: totals.nodeCrashes,
    gcFiles: totals.gcFiles,
    seconds: Number(((Date.now() - started) / 1000).toFixed(1)),
    ...(failure === null ? {} : { error: failure.error instanceof Error ? failure.error.message : String(failure.error) }),
  }
}
