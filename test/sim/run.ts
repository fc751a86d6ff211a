/**
 * `npm run sim -- <suite> --seeds N [--seed S] [--mutant NAME]`: runs a simulation suite from the
 * command line. --seeds N runs seeds 1..N (from --first-seed); --seed S replays one seed (as
 * T3FS_SEED=S does); --mutant turns on a named deliberate bug the suite must catch. Prints the
 * failing seed, ends with one JSON line; exits 1 when a seed failed (0 with --mutant when the
 * mutant was caught, 1 when it was not), 2 on a usage error.
 */
import { parseArgs } from 'node:util'
import { NAMESPACE_MUTANTS, STORAGE_CALL_MUTANTS, type NamespaceMutant, type StorageCallMutant } from '../../actors/meta/op-context.ts'
import { KVCACHE_MUTANTS, type KvCacheMutant } from '../../actors/kvcache/kv-options.ts'
import { CLIENT_MUTANTS, type ClientMutant } from '../../actors/client/file-client.ts'
import { runClientSuite } from '../actors/client/client-fault-suite.ts'
import { runKvCacheSuite } from './kvcache-suite.ts'
import { runMetaStorageSuite } from './meta-storage-suite.ts'
import { runMetaSuite } from './meta-suite.ts'
import { runStorageSuite, STORAGE_MUTANTS } from './storage-suite.ts'

const SUITES: Readonly<Record<string, { mutants: readonly string[]; run: (o: { seeds: number; firstSeed?: number; mutant: string | null; log: (l: string) => void }) => Promise<{ failed: number }> }>> = {
  meta: { mutants: NAMESPACE_MUTANTS, run: (o) => runMetaSuite({ ...o, mutant: o.mutant as NamespaceMutant | null }) },
  storage: { mutants: STORAGE_MUTANTS, run: (o) => runStorageSuite(o) },
  'meta-storage': { mutants: STORAGE_CALL_MUTANTS, run: (o) => runMetaStorageSuite({ ...o, mutant: o.mutant as StorageCallMutant | null }) },
  kvcache: { mutants: KVCACHE_MUTANTS, run: (o) => runKvCacheSuite({ ...o, mutant: o.mutant as KvCacheMutant | null }) },
  client: { mutants: CLIENT_MUTANTS, run: (o) => runClientSuite({ ...o, mutant: o.mutant as ClientMutant | null }) },
}

function usage(message: string): never {
  process.stderr.write(`npm run sim: ${message}\nusage: npm run sim -- <suite> --seeds N [--first-seed S] [--seed S] [--mutant NAME]\nsuites: ${Object.keys(SUITES).join(', ')}\n`)
  process.exit(2)
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { seeds: { type: 'string' }, seed: { type: 'string' }, 'first-seed': { type: 'string' }, mutant: { type: 'string' } } })
  } catch (error) {
    return usage((error as Error).message)
  }
})()
const suite = SUITES[positionals[0] ?? '']
if (suite === undefined || positionals.length !== 1) usage(`give one suite (got ${JSON.stringify(positionals)})`)
const int = (name: string, v: string | undefined, fallback: number): number => {
  if (v === undefined) return fallback
  if (!/^\d+$/.test(v) || Number(v) < 1) usage(`--${name} ${JSON.stringify(v)} is not accepted; accepted: a positive integer`)
  return Number(v)
}
const mutant = values.mutant ?? null
if (mutant !== null && !suite.mutants.includes(mutant)) usage(`--mutant ${JSON.stringify(mutant)} is not accepted; accepted: ${suite.mutants.join(', ')}`)
const single = values.seed !== undefined ? int('seed', values.seed, 1) : process.env.T3FS_SEED !== undefined ? int('seed', process.env.T3FS_SEED, 1) : null
const result = await suite.run({
  seeds: single === null ? int('seeds', values.seeds, 100) : 1,
  firstSeed: single ?? int('first-seed', values['first-seed'], 1),
  mutant,
  log: (line) => process.stderr.write(`${line}\n`),
})
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exitCode = mutant === null ? (result.failed === 0 ? 0 : 1) : result.failed === 1 ? 0 : 1
