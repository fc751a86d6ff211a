/**
 * A job's progress as a user sees it: a real job in its own process with `progress: true` writes
 * plain progress lines to stderr (its stderr is a pipe here, not a terminal), from `tasks 0/N` to
 * `tasks N/N (100%)`, with no control characters and nothing on stdout but the program's own
 * output; without the option, or with T3FS_PROGRESS=0, it shows none; T3FS_PROGRESS=1 turns it on.
 * Then the scheduler's snapshots through the reporter on a virtual clock: stages, rows, ETA.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as smallpond from '../../../actors/smallpond/index.ts'
import { JobProgress, progressDetail } from '../../../actors/smallpond/execution/progress.ts'
import { TaskScheduler } from '../../../actors/smallpond/execution/scheduler.ts'
import { resolveConfig } from '../../../actors/smallpond/config.ts'
import { Progress } from '../../../runtime/progress/progress.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'

const fixture = fileURLToPath(new URL('./fixtures/progress-job.ts', import.meta.url))
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/

function runJob(dir: string, progress: string, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { T3FS_PROGRESS: _ignored, ...base } = process.env
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, join(dir, 'data'), join(dir, `out-${progress}`), progress], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...base, ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

t.test('a job with progress on: lines on stderr from 0 to total/total; stdout untouched', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-progress-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const run = await runJob(dir, 'true', {})
  t.equal(run.code, 0, run.stderr.slice(-2000))
  t.equal(run.stdout, '{"rows":20000}\n', 'stdout holds only the program\'s line')
  const lines = run.stderr.split('\n').filter((l) => l.startsWith('smallpond: '))
  t.ok(lines.length >= 2, `progress lines (${lines.length}):\n${lines.join('\n')}`)
  t.notOk(CONTROL.test(run.stderr), 'no control characters on a pipe')
  const first = /^smallpond: tasks 0\/(\d+) \(0%\)/.exec(lines[0])
  t.ok(first, `the first line starts at 0: ${lines[0]}`)
  const ends = lines.map((l) => /^smallpond: tasks (\d+)\/(\d+) \(100%\) · .* · done in /.exec(l)).filter((m) => m !== null)
  t.ok(ends.length >= 1 && ends.every((m) => m![1] === m![2]), 'every run of the scheduler ends at total/total')
  const rows = Number(/ (\d+) rows /.exec(lines[lines.length - 1])?.[1])
  t.ok(rows >= 20_000, `the rows the tasks wrote are counted (${rows}: every stage's output)`)
})

t.test('progress off by default for a library; T3FS_PROGRESS turns it off or on', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-progress-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const quiet = await runJob(dir, 'default', {})
  t.equal(quiet.code, 0, quiet.stderr.slice(-2000))
  t.notMatch(quiet.stderr, /smallpond: tasks/, 'no option: no progress')
  const off = await runJob(dir, 'true', { T3FS_PROGRESS: '0' })
  t.equal(off.code, 0, off.stderr.slice(-2000))
  t.notMatch(off.stderr, /smallpond: tasks/, 'T3FS_PROGRESS=0 wins over progress: true')
  t.equal(off.stdout, '{"rows":20000}\n')
  t.equal(resolveConfig({}, { T3FS_PROGRESS: '1' }, 0, new SeededRandom(1)).progress, true, 'T3FS_PROGRESS=1 turns it on')
  t.throws(() => resolveConfig({}, { T3FS_PROGRESS: 'loud' }, 0, new SeededRandom(1)), { code: 'ERR_SMALLPOND_INVALID_ARGUMENT', message: /T3FS_PROGRESS.*"loud"/ })
  t.throws(() => resolveConfig({ progress: 'yes' as unknown as boolean }, {}, 0, new SeededRandom(1)), { message: /progress.*true or false/ })
})

t.test('the figures: stages under way, running and failed tasks, rows and bytes with rates', async (t) => {
  t.equal(progressDetail({
    done: 5, total: 21, running: 2, failed: 1, rows: 5000, outputBytes: 10 << 20, elapsedMs: 2000,
    stages: [{ name: 'HashPartitionDuckDb', done: 3, total: 4 }, { name: 'SqlEngine', done: 0, total: 16 }, { name: 'DataSink', done: 0, total: 1 }],
  }), 'HashPartitionDuckDb 3/4, SqlEngine 0/16, … · 2 running, 1 failed · 5000 rows (2500/s), 10.0 MiB written (5.00 MiB/s)')
})

t.test('the scheduler reports each task through the reporter (virtual clock)', async (t) => {
  const { Planner, Context, DataSourceNode, SqlQueryDataSet, SqlEngineNode } = smallpond
  const writes: string[] = []
  const clock = new VirtualClock()
  const stream = { isTTY: false, write: (s: string) => { writes.push(s); return true } }
  const ctx = new Context()
  const planner = new Planner()
  const node = new SqlEngineNode(ctx, [new DataSourceNode(ctx, new SqlQueryDataSet('select i from range(10) t(i)'))], 'select i * 2 from {0}')
  const targets = planner.plan(node)
  const scheduler = new TaskScheduler({
    runner: new smallpond.InProcessTaskRunner(), env: { jobId: 'j', jobRoot: t.testdir(), jobSeed: 1, threads: 1, memoryLimitBytes: 256 << 20 },
    maxConcurrentTasks: 2, random: new SeededRandom(1), clock,
    progress: new JobProgress(new Progress({ label: 'smallpond', stream, clock, env: {}, lineIntervalMs: 0 })),
  })
  await scheduler.run(planner.closure(targets), targets)
  t.match(writes[0], /^smallpond: tasks 0\/2 \(0%\) · 0 running, 0 failed · 0 rows/, 'the run starts at 0')
  t.match(writes.find((w) => /SqlEngine 0\/1/.test(w)) ?? '', /1 running/, 'a started stage shows with its partitions')
  t.match(writes[writes.length - 1], /^smallpond: tasks 2\/2 \(100%\) · 0 running, 0 failed · 20 rows .* · done in /)
  t.ok(writes.every((w) => w.endsWith('\n') && !CONTROL.test(w)), 'plain lines')
})
