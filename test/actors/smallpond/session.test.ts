/** Session behaviour: init options and SP_* variables, retries and the fail budget, clear errors, sinks, reuse. */
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import * as smallpond from '../../../actors/smallpond/index.ts'
import { InProcessTaskRunner, type TaskRunRequest } from '../../../actors/smallpond/index.ts'
import { resolveConfig } from '../../../actors/smallpond/config.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'
import { session, num } from './fixtures.ts'

const ab = [{ a: 1, b: 4 }, { a: 2, b: 5 }, { a: 3, b: 6 }]
const fns = new URL('./fixtures/user-functions.ts', import.meta.url).href

t.test('init: arguments win over SP_* variables, which win over defaults', async (t) => {
  const env = { SP_JOBID: 'abcdef12-0000-0000-0000-000000000000', SP_DATA_ROOT: '/tmp/x', SP_NUM_EXECUTORS: '3', SP_JOB_TIME: '2025-02-27T10:00:00Z' }
  const c = resolveConfig({}, env, 0, new SeededRandom(1))
  t.equal(c.jobId, env.SP_JOBID)
  t.equal(c.dataRoot, '/tmp/x')
  t.equal(c.numExecutors, 3)
  t.equal(c.jobTimeMs, Date.parse('2025-02-27T10:00:00Z'))
  t.equal(resolveConfig({ dataRoot: '/tmp/y', numExecutors: 1 }, env, 0, new SeededRandom(1)).dataRoot, '/tmp/y')
  t.throws(() => resolveConfig({}, { SP_NUM_EXECUTORS: 'many' }, 0, new SeededRandom(1)), { code: 'ERR_SMALLPOND_INVALID_ARGUMENT', message: /SP_NUM_EXECUTORS.*"many".*integer in 0\.\.1024/ })
  t.throws(() => resolveConfig({}, { SP_PLATFORM: 'mpi' }, 0, new SeededRandom(1)), { message: /platform \(SP_PLATFORM\) is "mpi"/ })
  t.match(resolveConfig({}, {}, 0, new SeededRandom(1)).warnings[0], /data root not set/)
  const sp = await session(t.testdir(), { jobId: 'abcdef12-1111-0000-0000-000000000000', jobTime: Date.parse('2025-02-27T10:00:00Z') })
  t.match(sp.jobRoot, /2025-02-27-10-00-00\.abcdef12-1111-0000-0000-000000000000$/)
  await sp.shutdown()
})

t.test('retries: injected faults are retried within the fail budget', async (t) => {
  const sp = await session(t.testdir(), { faultInjectProb: 0.3, maxFailCount: 3 }, { random: new SeededRandom(7) })
  t.teardown(() => sp.shutdown())
  const rows = await sp.fromItems(Array.from({ length: 100 }, (_, i) => i)).repartition(5, { byRows: true })
    .map('sum(item) as s').takeAll()
  t.equal(rows.reduce((s, r) => s + num(r.s), 0), 4950)
  const failures = sp.scheduler.attempts.filter((a) => !a.ok)
  t.ok(failures.length > 0, `${failures.length} injected failures were retried`)
  t.ok(failures.every((f) => /injected fault/.test(f.error ?? '')))
})

t.test('a task that keeps failing fails the job with its SQL, partition and cause', async (t) => {
  let calls = 0
  const inner = new InProcessTaskRunner()
  const runner = {
    run(req: TaskRunRequest) {
      if (req.task.op.type === 'sql') { calls++; return Promise.reject(new Error('disk on fire')) }
      return inner.run(req)
    },
  }
  const sp = await session(t.testdir(), { maxFailCount: 2 }, { runner })
  const df = sp.partialSql('select item * 2 as x from {0}', sp.fromItems([1, 2, 3]).repartition(2, { byRows: true }))
  const error = await df.takeAll().then(() => undefined, (e: Error & { code?: string }) => e)
  t.match(error?.message, /task SqlEngineTask-\d+ \(node \d+, __data_partition__=\d\/2\) running SQL "select item \* 2 as x from \{0\}" failed after 3 attempt\(s\): disk on fire/)
  t.ok(calls >= 3)
  await sp.shutdown()
  t.ok(existsSync(join(sp.jobRoot, 'staging')), 'a failed job keeps its staging dir')
})

t.test('a task that fails once succeeds on retry', async (t) => {
  const failed = new Set<number>()
  const inner = new InProcessTaskRunner()
  const runner = {
    run(req: TaskRunRequest) {
      if (req.task.op.type === 'sql' && !failed.has(req.task.id)) { failed.add(req.task.id); return Promise.reject(new Error('transient')) }
      return inner.run(req)
    },
  }
  const sp = await session(t.testdir(), {}, { runner })
  t.equal(await sp.fromItems([1, 2, 3]).map('item + 1 as x').count(), 3)
  t.ok(sp.scheduler.attempts.some((a) => a.ok && a.attempt === 1), 'second attempt succeeded')
  await sp.shutdown()
})

t.test('clear errors for wrong input', async (t) => {
  const dir = t.testdir()
  const sp = await session(dir)
  t.teardown(() => sp.shutdown())
  await t.rejects(sp.readParquet(join(dir, 'missing.parquet')).count(), { code: 'ERR_SMALLPOND_FILE_NOT_FOUND', message: /missing\.parquet" does not exist/ })
  await t.rejects(sp.readParquet(join(dir, 'none-*.parquet')).count(), { code: 'ERR_SMALLPOND_FILE_NOT_FOUND', message: /matches no file/ })
  await t.rejects(sp.fromItems([1, 2, 3]).repartition(3, { by: 'item + 5' }).count(), { code: 'ERR_SMALLPOND_PARTITION_KEY_OUT_OF_RANGE', message: /partition key 8 is out of range 0-2 \(partition column\/expression "item \+ 5"\)/ })
  t.throws(() => sp.fromItems([]), { message: /items is \[\]; accepted: a non-empty array/ })
  t.throws(() => sp.fromItems([1]).repartition(2, { by: 'item', hashBy: 'item' }), { message: /either by or hashBy/ })
  t.throws(() => sp.fromItems([1]).map(42 as never), { message: /a function, or a module reference/ })
  t.throws(() => sp.readCsv('x.csv', {}), { message: /schema is \{\}/ })
})

t.test('closures cannot ship to worker hosts; module references can', async (t) => {
  const inner = new InProcessTaskRunner()
  const runner = { shipsTasks: true, run: (req: TaskRunRequest) => inner.run(req) }
  const sp = await session(t.testdir(), {}, { runner })
  t.teardown(() => sp.shutdown())
  const df = sp.fromRecords(ab)
  await t.rejects(df.map((r) => ({ c: r.a })).takeAll(), { code: 'ERR_SMALLPOND_UNSHIPPABLE_FUNCTION', message: /closure.*accepted: a module reference \{ module: import\.meta\.url, export: "myFunction" \}/ })
  t.same(await df.map({ module: fns, export: 'addAB' }).takeAll(), [{ c: 5n }, { c: 7n }, { c: 9n }])
  t.equal(await df.filter({ module: fns, export: 'aAboveOne' }).count(), 2)
  await t.rejects(df.map({ module: fns, export: 'nope' }).takeAll(), { message: /the name of an exported function/ })
  const threads = new Set((await df.map({ module: fns, export: 'tagThread' }).takeAll()).map((r) => num(r.thread)))
  t.ok([...threads].every((id) => id > 0), `module-reference row functions ran in the piscina pool (threads ${[...threads]})`)
})

t.test('writeParquet, readParquet of the output, wait, reuse and recompute', async (t) => {
  const dir = t.testdir()
  const sp = await session(dir)
  t.teardown(() => sp.shutdown())
  const df = sp.fromItems(Array.from({ length: 50 }, (_, i) => i)).repartition(4, { hashBy: 'item' })
  await df.writeParquet(join(dir, 'out1'))
  t.equal(await sp.readParquet(join(dir, 'out1')).count(), 50)
  const o2 = df.map('item').writeParquetLazy(join(dir, 'out2'))
  const o3 = df.filter('item < 10').writeParquetLazy(join(dir, 'out3'))
  await sp.wait(o2, o3)
  t.equal(await sp.readParquet(join(dir, 'out3', '*.parquet')).count(), 10)
  const before = sp.scheduler.attempts.length
  await df.count()
  t.equal(sp.scheduler.attempts.length, before, 'computed results are reused')
  await df.recompute().count()
  t.ok(sp.scheduler.attempts.length > before, 'recompute runs the tasks again')
  t.match(df.explain(), /HashPartitionNode-\d+ npartitions=4/)
  t.match(sp.graph(), /DataSinkNode/)
})

t.test('partitions without files are skipped, not failed', async (t) => {
  const sp = await session(t.testdir())
  t.teardown(() => sp.shutdown())
  const df = sp.fromItems([1, 2, 3]).repartition(10).map('item * 2 as x')
  t.same((await df.takeAll()).map((r) => num(r.x)), [2, 4, 6])
  t.equal(await df.count(), 3)
  t.equal((await df.compute()).length, 10, 'still 10 partitions')
})

t.test('readJson and partialSort', async (t) => {
  const dir = t.testdir({ 'a.json': '{"k": 3, "v": "c"}\n{"k": 1, "v": "a"}\n{"k": 2, "v": "b"}\n' })
  const sp = await session(dir)
  t.teardown(() => sp.shutdown())
  const rows = await sp.readJson(join(dir, 'a.json'), { k: 'bigint', v: 'varchar' }).partialSort('k desc').takeAll()
  t.same(rows.map((r) => r.v), ['c', 'b', 'a'])
})

t.test('the public module exports the API', async (t) => {
  for (const name of ['init', 'Session', 'DataFrame', 'Driver', 'LogicalPlan', 'Planner', 'SqlEngineNode', 'HashPartitionNode', 'ShuffleNode', 'DataSinkNode']) {
    t.ok(name in smallpond, name)
  }
})

t.test('out of memory: the memory limit doubles on retry until the query fits', async (t) => {
  const sp = await session(t.testdir(), { maxFailCount: 10 })
  t.teardown(() => sp.shutdown())
  const df = sp.partialSql('select count(distinct i) as n from range(2000000) t(i)', { memoryLimitBytes: 2 << 20 })
  t.same(await df.takeAll(), [{ n: 2000000n }])
  const oom = sp.scheduler.attempts.filter((a) => !a.ok)
  t.ok(oom.length > 0 && oom.every((a) => /Out of Memory/.test(a.error ?? '')), `${oom.length} out-of-memory attempts before success`)
})

t.test('Driver command line: modes, aliases and clear errors', async (t) => {
  const d = new smallpond.Driver()
  d.addArgument('npartitions', { default: '4' })
  const { user, driver } = d.parseArguments(['--data-root=/tmp/x', '--max_fail=7', '--fail_fast', '--npartitions=9'])
  t.equal(driver.mode, 'scheduler', 'mode is optional')
  t.equal(driver.init.dataRoot, '/tmp/x')
  t.equal(driver.init.maxFailCount, 0, '--fail_fast wins')
  t.equal(user.npartitions, '9')
  t.equal(driver.init.progress, true, 'a command line tool shows progress')
  t.equal(new smallpond.Driver().parseArguments(['--no_progress']).driver.init.progress, false, 'unless told not to')
  t.equal(new smallpond.Driver().parseArguments(['ray', '--max_fail=7']).driver.init.maxFailCount, 7)
  t.throws(() => new smallpond.Driver().parseArguments(['executor']), { message: /mode is "executor"; accepted: scheduler \| ray \(executors are task actors/ })
  t.throws(() => new smallpond.Driver().parseArguments(['--bogus=1']), { message: /accepted: \[scheduler\|ray\] --job_id/ })
  t.throws(() => new smallpond.Driver().parseArguments(['--output_path=rel/dir']), { message: /--output_path is "rel\/dir"; accepted: an absolute path/ })
})

t.test('readParquet with columns and generated columns', async (t) => {
  const dir = t.testdir()
  const sp = await session(dir)
  t.teardown(() => sp.shutdown())
  await sp.fromRecords([{ a: 1, b: 'x' }, { a: 2, b: 'y' }]).writeParquet(join(dir, 'in'))
  const rows = await sp.readParquet(join(dir, 'in', '*.parquet'), { columns: ['b'], generatedColumns: ['file_row_number'] }).takeAll()
  t.same(rows, [{ b: 'x' }, { b: 'y' }].map((r, i) => ({ ...r, file_row_number: BigInt(i) })).map(({ b }) => ({ b })))
  const withGen = await sp.readParquet(join(dir, 'in', '*.parquet'), { generatedColumns: ['file_row_number'] }).takeAll()
  t.same(withGen.map((r) => num(r.file_row_number)), [0, 1])
})

t.test('scalar UDFs in map and partialSql, fused or not', async (t) => {
  const sp = await session(t.testdir())
  t.teardown(() => sp.shutdown())
  const plus = smallpond.udf({ name: 'plus_one', params: ['BIGINT'], returnType: 'BIGINT', fn: (x: bigint) => x + 1n })
  const tag = smallpond.udf({ name: 'tag', params: ['VARCHAR', 'BIGINT'], returnType: 'VARCHAR', fn: (s: string, n: bigint) => `${s}#${n}` })
  const df = sp.fromRecords([{ a: 1, b: 'x' }, { a: 2, b: 'y' }])
  t.same(await df.map('plus_one(a) as a1', { udfs: [plus] }).takeAll(), [{ a1: 2n }, { a1: 3n }])
  const fused = df.filter('plus_one(a) > 2', { udfs: [plus] }).map('tag(b, a) as t', { udfs: [tag] })
  t.same(await fused.takeAll(), [{ t: 'y#2' }])
  t.throws(() => smallpond.udf({ name: 'bad', params: ['DATETIME'], returnType: 'BIGINT', fn: () => 1 }), { message: /udf params\[0\] is "DATETIME"; accepted: BOOLEAN/ })
})

t.test('speculative execution copies a straggler; the first copy to finish wins', async (t) => {
  const inner = new InProcessTaskRunner()
  // The first attempt of partition 23 is held until the test releases it (or, as a backstop, for
  // 20 s), so whether a copy overtook it is an order of events, not a wall-clock figure.
  let release = (): void => {}
  let stragglerHeld = false
  let onHeld = (): void => {}
  let slowOnce = true
  const runner = {
    async run(req: TaskRunRequest) {
      const out = await inner.run(req)
      const p = req.task.partitionInfos.find((x) => x.dimension === '__data_partition__')
      if (req.task.op.type === 'sql' && p?.index === 23 && slowOnce) {
        slowOnce = false
        stragglerHeld = true
        onHeld()
        await new Promise<void>((resolve) => {
          const backstop = setTimeout(resolve, 20_000)
          release = () => { clearTimeout(backstop); resolve() }
        })
        stragglerHeld = false
      }
      return out
    },
  }
  for (const mode of ['enable', 'disable'] as const) {
    slowOnce = true
    const held = new Promise<void>((resolve) => { onHeld = resolve })
    const sp = await session(t.testdir(), { speculativeExec: mode, speculativeMinMs: 200 }, { runner })
    const df = sp.fromItems(Array.from({ length: 24 }, (_, i) => i)).repartition(24, { byRows: true }).map('item * 2 as x')
    if (mode === 'enable') {
      t.equal(await df.count(), 24)
      t.ok(sp.scheduler.speculativeAttempts >= 1, `${sp.scheduler.speculativeAttempts} speculative copies`)
      t.ok(stragglerHeld, 'the job finished while the straggler was still held: the copy won')
      release()
    } else {
      let counted = false
      const count = df.count().finally(() => { counted = true })
      await held
      // Without speculation nothing but the straggler itself can finish the job: give the
      // scheduler well past speculativeMinMs to prove it starts no copy.
      await new Promise((r) => setTimeout(r, 600))
      t.notOk(counted, 'the job waits for the held straggler')
      release()
      t.equal(await count, 24)
      t.equal(sp.scheduler.speculativeAttempts, 0)
    }
    await sp.shutdown()
  }
})
