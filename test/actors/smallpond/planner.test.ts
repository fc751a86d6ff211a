/** The logical layer without a cluster or DuckDB: datasets helpers, planner, partition dimensions, fusion. */
import t from 'tap'
import {
  Context, DataSourceNode, ParquetDataSet, HashPartitionNode, EvenlyDistributedPartitionNode, SqlEngineNode, ConsolidateNode,
  LimitNode, UnionNode, Planner, LogicalPlan, DataSetPartitionNode, splitIntoRows, getNthPartition, splitIntoCols,
  ShuffleNode, DATA_PARTITION_COLUMN,
} from '../../../actors/smallpond/index.ts'
import { partitionByRows, parquetOf } from '../../../actors/smallpond/logical/dataset.ts'
import { Optimizer } from '../../../actors/smallpond/logical/optimizer.ts'
import { formatSql } from '../../../actors/smallpond/execution/sql-template.ts'

const src = (ctx: Context) => new DataSourceNode(ctx, new ParquetDataSet('/data/*.parquet'))
const dims = (infos: readonly { dimension: string; index: number; npartitions: number }[]) =>
  infos.map((p) => `${p.dimension}:${p.index}/${p.npartitions}`).join(',')

t.test('split helpers keep numpy array_split semantics', async (t) => {
  t.same(splitIntoRows([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 3), [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]])
  t.same([0, 1, 2, 3, 4].map((k) => getNthPartition([1, 2, 3], k, 5)), [[1], [2], [3], [], []])
  t.same(splitIntoCols([0, 1, 2, 3, 4], 2), [[0, 2, 4], [1, 3]])
})

t.test('partitionByRows is exact across files', async (t) => {
  const counted = [{ path: 'a', begin: 0, end: 7 }, { path: 'b', begin: 0, end: 0 }, { path: 'c', begin: 0, end: 10 }]
  for (let n = 1; n <= 20; n++) {
    const parts = partitionByRows(parquetOf(['a', 'b', 'c']), counted, n)
    t.equal(parts.length, n)
    const sizes = parts.map((p) => p.files.reduce((s, f) => s + (f.end! - f.begin!), 0))
    t.equal(sizes.reduce((a, b) => a + b, 0), 17, `n=${n} total`)
    t.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `n=${n} balanced ${sizes}`)
  }
})

t.test('source and partition planning', async (t) => {
  const ctx = new Context()
  const planner = new Planner({ maxProducers: 2 })
  const s = src(ctx)
  t.equal(dims(planner.plan(s)[0].partitionInfos), '@toplevel@:0/1')
  const h = new HashPartitionNode(ctx, [s], 4, ['k'])
  const out = planner.plan(h)
  t.equal(out.length, 4)
  t.same(out.map((x) => dims(x.partitionInfos)), [0, 1, 2, 3].map((i) => `@toplevel@:0/1,${DATA_PARTITION_COLUMN}:${i}/4`))
  const producers = new Set(out.flatMap((x) => x.inputIds))
  t.equal(producers.size, 2, 'two producers (maxProducers)')
  for (const id of producers) t.equal(planner.tasks.get(id)!.taskClass, 'HashPartitionDuckDbTask')
  t.equal(planner.plan(h), out, 'memoized per node')
  const e = new EvenlyDistributedPartitionNode(ctx, [s], 3)
  const eo = planner.plan(e)
  t.equal(new Set(eo.flatMap((x) => x.inputIds)).size, 1, 'evenly has one producer')
})

t.test('nested partitions keep dimensions and multiply', async (t) => {
  const ctx = new Context()
  const planner = new Planner()
  const host = new HashPartitionNode(ctx, [src(ctx)], 3, ['host'], { dimension: 'host_partition' })
  const url = new HashPartitionNode(ctx, [host], 4, ['url'], { dimension: 'url_partition', nested: true })
  const tasks = planner.plan(url)
  t.equal(tasks.length, 12)
  t.equal(dims(tasks[5].partitionInfos), '@toplevel@:0/1,host_partition:1/3,url_partition:1/4')
  const sql = new SqlEngineNode(ctx, [url], 'select count(*) from {0}')
  t.equal(planner.plan(sql).length, 12)
  const byHost = planner.plan(new ConsolidateNode(ctx, url, ['host_partition']))
  t.same(byHost.map((x) => dims(x.partitionInfos)), [0, 1, 2].map((i) => `@toplevel@:0/1,host_partition:${i}/3`))
  t.equal(planner.plan(new ConsolidateNode(ctx, url, [])).length, 1)
  t.throws(() => new HashPartitionNode(ctx, [host], 2, ['x'], { nested: true }), { code: 'ERR_SMALLPOND_INVALID_ARGUMENT' })
  const dup = new HashPartitionNode(ctx, [host], 2, ['x'], { nested: true, dimension: 'host_partition' })
  t.throws(() => planner.plan(dup), { code: 'ERR_SMALLPOND_PLAN', message: /already exists/ })
})

t.test('multi-input nodes: zip, broadcast, and plan validation', async (t) => {
  const ctx = new Context()
  const planner = new Planner()
  const a = new HashPartitionNode(ctx, [src(ctx)], 3, ['id'], { dimension: 'A' })
  const a2 = new HashPartitionNode(ctx, [src(ctx)], 3, ['id'], { dimension: 'A' })
  const zipped = planner.plan(new SqlEngineNode(ctx, [a, a2], 'select * from {0} join {1} using (id)'))
  t.equal(zipped.length, 3)
  const small = src(ctx)
  const broadcast = planner.plan(new SqlEngineNode(ctx, [a, small], 'select * from {0}, {1}'))
  t.equal(broadcast.length, 3)
  const smallTask = planner.plan(small)[0].id
  t.ok(broadcast.every((x) => x.inputIds[1] === smallTask), 'the unpartitioned input is broadcast')
  const b = new HashPartitionNode(ctx, [src(ctx)], 3, ['id'], { dimension: 'B' })
  t.throws(() => planner.plan(new SqlEngineNode(ctx, [a, b], 'select 1')), { code: 'ERR_SMALLPOND_PLAN', message: /not compatible/ })
  const a6 = new HashPartitionNode(ctx, [src(ctx)], 6, ['id'], { dimension: 'A' })
  t.throws(() => planner.plan(new SqlEngineNode(ctx, [a, a6], 'select 1')), { code: 'ERR_SMALLPOND_PLAN' })
  t.throws(() => planner.plan(new UnionNode(ctx, [a, b])), { code: 'ERR_SMALLPOND_PLAN' })
  t.equal(planner.plan(new UnionNode(ctx, [a, a2])).length, 6)
})

t.test('limit plans partial limits, a merge and a global limit', async (t) => {
  const ctx = new Context()
  const planner = new Planner()
  const p = new EvenlyDistributedPartitionNode(ctx, [src(ctx)], 5)
  const out = planner.plan(new LimitNode(ctx, p, 7))
  t.equal(out.length, 1)
  const merge = planner.tasks.get(out[0].inputIds[0])!
  t.equal(merge.taskClass, 'MergeDataSetsTask')
  t.equal(merge.inputIds.length, 5)
})

t.test('DataSetPartitionNode(1) consolidates; ShuffleNode names its dimension', async (t) => {
  const ctx = new Context()
  const planner = new Planner()
  t.equal(DataSetPartitionNode(ctx, [src(ctx)], 1).className, 'ConsolidateNode')
  const sh = new ShuffleNode(ctx, [src(ctx)], 4, 'buckets')
  t.equal(sh.dimension, 'buckets')
  t.equal(new ShuffleNode(ctx, [src(ctx)], 4, 'item % 4').dimension, DATA_PARTITION_COLUMN)
  t.equal(planner.plan(sh).length, 4)
})

t.test('createExecPlan adds sinks for named nodes and the final results', async (t) => {
  const ctx = new Context()
  const s = src(ctx)
  const named = new SqlEngineNode(ctx, [s], 'select * from {0}', { outputName: 'step1' })
  const root = new SqlEngineNode(ctx, [named], 'select count(*) from {0}')
  const plan = new LogicalPlan(ctx, root)
  t.match(plan.explainStr(), /SqlEngineNode-000003[\s\S]*SqlEngineNode-000002 output_name=step1[\s\S]*DataSourceNode-000001/)
  const exec = new Planner().createExecPlan(plan, '/job/output')
  t.equal(exec.rootTask.taskClass, 'RootTask')
  t.same([...exec.namedSinkTasks.keys()], ['step1'])
  t.match(exec.finalSinkTask.op, { type: 'sink', path: '/job/output/FinalResults', sinkType: 'manifest' })
  t.ok(exec.tasks.indexOf(exec.rootTask) === exec.tasks.length - 1, 'root last, dependencies first')
})

t.test('SQL placeholders', async (t) => {
  t.equal(formatSql('select {{1}} from {0} where p = {__data_partition__}', ['v0'], { __data_partition__: 3 }), 'select {1} from v0 where p = 3')
  t.throws(() => formatSql('select * from {1}', ['v0'], {}), { code: 'ERR_SMALLPOND_SQL', message: /unknown placeholder \{1\}/ })
  t.throws(() => formatSql('select {x}', [], { rand_seed: 1 }), { message: /accepted: \{rand_seed\}/ })
})

t.test('SQL fusion nests consecutive single-input SQL nodes', async (t) => {
  const ctx = new Context()
  const s = src(ctx)
  const f = new SqlEngineNode(ctx, [s], 'select * from {0} where (a > 1)')
  const m = new SqlEngineNode(ctx, [f], 'select a, {__data_partition__} as p from {0}')
  const fused = new Optimizer().optimize(m) as SqlEngineNode
  t.same(fused.sqlQueries, ['select a, {__data_partition__} as p from (select * from {0} where (a > 1))'])
  t.equal(fused.inputDeps[0], s)
  const lim = new LimitNode(ctx, f, 3)
  const over = new SqlEngineNode(ctx, [lim], 'select * from {0}')
  t.equal((new Optimizer().optimize(over) as SqlEngineNode).inputDeps[0].className, 'LimitNode', 'never fused into a limit')
})

t.test('node validation names the argument', async (t) => {
  const ctx = new Context()
  t.throws(() => new SqlEngineNode(ctx, [], ''), { code: 'ERR_SMALLPOND_INVALID_ARGUMENT', message: /sqlQuery/ })
  t.throws(() => new HashPartitionNode(ctx, [src(ctx)], 0, ['a']), { message: /npartitions is 0; accepted: an integer in 1\.\.4096000/ })
  t.throws(() => new SqlEngineNode(ctx, [], 'select 1', { outputName: 'a-b' }), { message: /outputName/ })
  t.throws(() => new HashPartitionNode(ctx, [src(ctx)], 2, []), { message: /hashColumns/ })
})

t.test('fair dispatch goes round-robin across nodes, fewest failures first', async (t) => {
  const { pickFair } = await import('../../../actors/smallpond/execution/scheduler.ts')
  const task = (id: number, nodeId: number) => ({ id, nodeId }) as never
  const ready = [task(1, 5), task(2, 5), task(3, 7), task(4, 9)]
  t.equal(pickFair(ready, -1, new Map()), 0)
  t.equal(pickFair(ready, 5, new Map()), 2)
  t.equal(pickFair(ready, 9, new Map()), 0, 'wraps around')
  t.equal(pickFair(ready, -1, new Map([[1, 2]])), 1, 'a task that failed waits behind its siblings')
})
