/**
 * `npm run bench:graysort -- --on t3fs` at its smallest size: the bench starts a dev cluster,
 * mounts it, runs smallpond's two phases and DuckDB alone on the mount, validates both outputs
 * and ends with one JSON line carrying "on":"t3fs", validated and vs_duckdb_alone. Also: a
 * --mount that is not a t3fs mount is refused with the flag named.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mountSkipReason } from '../support/dev-cluster.ts'

const bench = fileURLToPath(new URL('../../bench/graysort.ts', import.meta.url))
const skip = mountSkipReason()
if (skip !== null) t.comment(`skipping graysort on t3fs: ${skip}`)

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', bench, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('graysort --on t3fs sorts on a dev cluster and validates', { skip: skip ?? false }, async (t) => {
  const result = await run(['--on', 't3fs', '--size', '2000000', '--rounds', '1', '--data-files', '2', '--memory', String(512 << 20)])
  t.equal(result.code, 0, `exit 0 (stderr: ${result.stderr.slice(-3000)})`)
  const line = JSON.parse(result.stdout.trim().split('\n').pop()!) as Record<string, unknown>
  t.equal(line.on, 't3fs')
  t.equal(line.validated, true)
  t.equal(line.bytes, 2_000_000)
  t.ok(typeof line.vs_duckdb_alone === 'number' && line.vs_duckdb_alone > 0, `vs_duckdb_alone ${line.vs_duckdb_alone}`)
  t.match(result.stderr, /t3fs mounted at .*\/mnt/, 'the bench started and mounted a dev cluster')
})

t.test('--mount that is not a t3fs mount is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gs-mount-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const result = await run(['--on', 't3fs', '--mount', dir])
  t.equal(result.code, 2)
  t.match(result.stderr, /--mount is .*accepted: the mount point of a t3fs FUSE mount \(found no mount there\)/)
  const local = await run(['--mount', dir])
  t.match(local.stderr, /--mount is .*accepted only with --on t3fs/)
})
