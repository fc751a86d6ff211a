/**
 * Task-level resume after a crash (smallpond's completed_tasks checkpoints): a job's process is
 * killed (SIGKILL, by itself, inside the 6th of 8 map tasks), then the same job (same data root,
 * job id and job time) is run again in a new process. The shuffle and the five map tasks that
 * completed are loaded from their checkpoints, not run again; the rest runs; the output is right.
 * Then the checkpoint rules: a checkpoint of another task, or one whose files are gone, is ignored.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { TaskCheckpoints } from '../../../actors/smallpond/execution/checkpoints.ts'
import type { TaskSpec } from '../../../actors/smallpond/logical/task.ts'

const fixture = fileURLToPath(new URL('./fixtures/resume-job.ts', import.meta.url))
const JOB_ID = '0000aaaa-1111-4222-8333-444455556666'

function runJob(args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

const expectedRows = Array.from({ length: 8 }, (_, p) => ({ p, n: 10_000, s: 399_960_000 + 10_000 * p }))

t.test('a job killed mid-way resumes from its completed tasks', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-resume-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const runLog = join(dir, 'runs.log')
  const args = (crashAt: number) => [join(dir, 'data'), JOB_ID, runLog, join(dir, 'out'), String(crashAt)]

  const first = await runJob(args(5))
  t.equal(first.signal, 'SIGKILL', `the first run died by SIGKILL (stderr: ${first.stderr.slice(-2000)})`)
  const firstRuns = readFileSync(runLog, 'utf8').trim().split('\n').map(Number)
  t.same(firstRuns, [0, 1, 2, 3, 4, 5], 'partitions 0..5 started before the crash')
  const [jobDir] = await readdir(join(dir, 'data'))
  const saved = (await readdir(join(dir, 'data', jobDir, 'staging', 'completed_tasks'), { recursive: true })).filter((f) => f.endsWith('.ckpt'))
  t.ok(saved.length >= 6, `checkpoints of the shuffle and five map tasks at least (${saved.length})`)

  const second = await runJob(args(-1))
  t.equal(second.code, 0, `the rerun succeeded (stderr: ${second.stderr.slice(-2000)})`)
  const result = JSON.parse(second.stdout.trim().split('\n').pop()!) as { rows: unknown[]; resumed: number; ran: string[] }
  t.same(result.rows, expectedRows, 'the output is right')
  const allRuns = readFileSync(runLog, 'utf8').trim().split('\n').map(Number)
  t.same(allRuns.slice(firstRuns.length), [5, 6, 7], 'the rerun ran only the map tasks that had not completed')
  t.notOk(result.ran.some((key) => key.startsWith('HashPartition')), `the shuffle was not run again (ran: ${result.ran.join(' ')})`)
  t.equal(result.ran.filter((key) => key.startsWith('ArrowBatch')).length, 3, 'three map tasks ran')
  t.ok(result.resumed >= 6, `tasks loaded from checkpoints: ${result.resumed}`)
})

const task = (over: Partial<TaskSpec> = {}): TaskSpec => ({
  id: 3, key: 'SqlEngineTask-3', taskClass: 'SqlEngineTask', nodeId: 2, partitionInfos: [], inputIds: [1],
  op: { type: 'sql', queries: ['select 1'], materialize: true, compression: 'zstd' }, cpuLimit: 1, onScheduler: false, ...over,
})

t.test('a checkpoint holds only for the same task and while its files exist', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-ckpt-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const checkpoints = new TaskCheckpoints(dir)
  const file = join(dir, 'out.parquet')
  await writeFile(file, 'x')
  const outcome = { output: { kind: 'parquet' as const, files: [{ path: file }], resolved: true, recursive: false, unionByName: false, generatedColumns: [] }, rowsWritten: 42 }
  await checkpoints.save(task(), outcome)
  t.same(await checkpoints.load(task()), outcome, 'loaded back')
  t.equal(await checkpoints.load(task({ op: { type: 'sql', queries: ['select 2'], materialize: true, compression: 'zstd' } })), undefined, 'another query: ignored')
  t.equal(await checkpoints.load(task({ inputIds: [7] })), undefined, 'other inputs: ignored')
  await checkpoints.forget(task())
  t.equal(await checkpoints.load(task()), undefined, 'forgotten: gone')
  await checkpoints.save(task(), outcome)
  await rm(file)
  t.equal(await checkpoints.load(task()), undefined, 'output file gone: ignored')
})
