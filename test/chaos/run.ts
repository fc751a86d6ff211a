/**
 * `npm run chaos -- <suite> [options]`: chaos runs against real `t3fs launch` processes. Ends with
 * one JSON line; exits 1 when the run found a lost or corrupt write, 2 on a usage error.
 *   storage [--kills N (default 10)] [--writers N (default 2)]
 */
import { parseArgs } from 'node:util'
import { runStorageChaos } from './storage-chaos.ts'

function usage(message: string): never {
  process.stderr.write(`npm run chaos: ${message}\nusage: npm run chaos -- storage [--kills N] [--writers N]\n`)
  process.exit(2)
}

const { values, positionals } = (() => {
  try {
    return parseArgs({ args: process.argv.slice(2), allowPositionals: true, options: { kills: { type: 'string' }, writers: { type: 'string' } } })
  } catch (error) {
    return usage((error as Error).message)
  }
})()
if (positionals.length !== 1 || positionals[0] !== 'storage') usage(`give one suite: storage (got ${JSON.stringify(positionals)})`)
const int = (name: string, v: string | undefined, fallback: number): number => {
  if (v === undefined) return fallback
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1000) usage(`--${name} ${JSON.stringify(v)} is not accepted; accepted: an integer from 1 to 1000`)
  return Number(v)
}
const result = await runStorageChaos({ kills: int('kills', values.kills, 10), writers: int('writers', values.writers, 2), log: (line) => process.stderr.write(`${line}\n`) })
process.stdout.write(`${JSON.stringify(result)}\n`)
process.exitCode = result.lost === 0 && result.corrupt === 0 && result.badReads === 0 ? 0 : 1
