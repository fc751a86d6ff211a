/** Engine-level checks of reference §5 on the low-level API: sinks, row/hash partitioning, nesting, placeholders. */
import t from 'tap'
import { mkdir, readdir, readFile, writeFile as fsWriteFile } from 'node:fs/promises'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import { tableFromArrays } from 'apache-arrow'
import {
  Context, DataSourceNode, ParquetDataSet, SqlQueryDataSet, ArrowTableDataSet, FileSet, SqlEngineNode, HashPartitionNode,
  EvenlyDistributedPartitionNode, DataSetPartitionNode, DataSinkNode, LogicalPlan, ArrowComputeNode, ArrowStreamNode, RootNode, ConsolidateNode,
  ScriptNode, LoadPartitionedDataSetNode, RepeatPartitionNode, UserDefinedPartitionNode, UserPartitionedDataSourceNode,
} from '../../../actors/smallpond/index.ts'
import { makeMockUrls, readSpec, driver, num } from './fixtures.ts'
import { countedFiles } from '../../../actors/smallpond/execution/dataset-io.ts'
import { partitionByRows, partitionByFiles, type ParquetSpec } from '../../../actors/smallpond/logical/dataset.ts'

t.test('row and file partitioning are exact on a hive dataset', async (t) => {
  const dir = t.testdir()
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  t.teardown(() => { conn.closeSync(); db.closeSync() })
  await conn.run(`copy (select i, i % 11 as part from range(170000) t(i)) to '${dir}/hive' (format parquet, partition_by (part), row_group_size 10000)`)
  const files = (await conn.runAndReadAll(`select file from glob('${dir}/hive/**/*.parquet') order by file`)).getRowsJS().map((r) => String(r[0]))
  t.equal(files.length, 11)
  const spec: ParquetSpec = { kind: 'parquet', files: files.map((path) => ({ path })), resolved: true, recursive: false, unionByName: false, generatedColumns: [] }
  const counted = await countedFiles(conn, spec)
  const { sqlFragment } = await import('../../../actors/smallpond/execution/dataset-io.ts')
  for (let n = 1; n <= 22; n++) {
    const parts = partitionByRows(spec, counted, n)
    const union = parts.filter((p) => p.files.length > 0).map((p) => `(${sqlFragment(p)})`).join(' union all ')
    const [[count, distinct, min, max]] = (await conn.runAndReadAll(`select count(*), count(distinct i), min(i), max(i) from (${union})`)).getRowsJS()
    t.same([num(count), num(distinct), num(min), num(max)], [170000, 170000, 0, 169999], `byRows n=${n}`)
  }
  for (let n = 1; n <= 11; n++) {
    const parts = partitionByFiles(spec, n)
    t.equal(parts.reduce((s, p) => s + p.files.length, 0), 11, `byFiles n=${n}`)
  }
})

t.test('low-level pipelines', async (t) => {
  const dir = t.testdir()
  const urls = await makeMockUrls(dir)
  const parquet = () => new ParquetDataSet(join(urls, '*.parquet'))

  await t.test('hash partition: counts sum to the input, nested keeps both dimensions', async (t) => {
    const ctx = new Context()
    const src = new DataSourceNode(ctx, parquet())
    const byHost = new HashPartitionNode(ctx, [src], 3, ['host'], { dimension: 'host_partition' })
    const byUrl = new HashPartitionNode(ctx, [byHost], 4, ['url'], { dimension: 'url_partition', nested: true })
    const counts = new SqlEngineNode(ctx, [byUrl],
      'select {host_partition} as h, {url_partition} as u, count(*) as n, count(distinct __data_partition__) as k from {0}')
    const all = DataSetPartitionNode(ctx, [counts], 1)
    const result = await driver(dir).run(new LogicalPlan(ctx, all))
    const rows = await readSpec(result!.finalOutput)
    t.equal(rows.length, 12)
    t.equal(rows.reduce((s, r) => s + num(r.n), 0), 1000)
    t.same(new Set(rows.map((r) => `${r.h}/${r.u}`)).size, 12)
  })

  await t.test('empty hash partitions get schema-only files', async (t) => {
    const ctx = new Context()
    const one = new DataSourceNode(ctx, new SqlQueryDataSet("select 1 as id, 'x' as v"))
    const p3 = new HashPartitionNode(ctx, [one], 3, ['id'], { dimension: 'p3' })
    const p4 = new HashPartitionNode(ctx, [p3], 4, ['v'], { dimension: 'p4', nested: true })
    const result = await driver(dir).run(new LogicalPlan(ctx, new SqlEngineNode(ctx, [p4], 'select * from {0}')))
    const rows = await readSpec(result!.finalOutput)
    t.equal(rows.length, 1)
    t.equal(result!.finalOutput.kind === 'parquet' && result!.finalOutput.files.length, 12, 'one file per partition')
  })

  await t.test('temp outputs in final results: 10 partitions × 2 queries → 20 rows', async (t) => {
    const ctx = new Context()
    const src = new DataSourceNode(ctx, parquet())
    const parts = new EvenlyDistributedPartitionNode(ctx, [src], 10)
    const c1 = new SqlEngineNode(ctx, [parts], 'select count(*) as n from {0}')
    const c2 = new SqlEngineNode(ctx, [parts], 'select count(*) as n from {0}')
    const both = new SqlEngineNode(ctx, [c1, c2], 'select * from {0} union all select * from {1}')
    const result = await driver(dir).run(new LogicalPlan(ctx, new ConsolidateNode(ctx, both, [])))
    const rows = await readSpec(result!.finalOutput)
    t.equal(rows.length, 20)
    t.equal(rows.reduce((s, r) => s + num(r.n), 0), 2000)
  })

  await t.test('partition info placeholder, one partition per file', async (t) => {
    const ctx = new Context()
    const parts = new EvenlyDistributedPartitionNode(ctx, [new DataSourceNode(ctx, parquet())], 10)
    const q = new SqlEngineNode(ctx, [parts], 'select host, {__data_partition__} as partition_info from {0}')
    const result = await driver(dir).run(new LogicalPlan(ctx, q))
    const rows = await readSpec(result!.finalOutput, 'select partition_info, count(*) as n from ({0}) group by 1 order by 1')
    t.same(rows.map((r) => [num(r.partition_info), num(r.n)]), Array.from({ length: 10 }, (_, i) => [i, 100]))
  })

  await t.test('literal sources row-partitioned and joined', async (t) => {
    const ctx = new Context()
    const a = new EvenlyDistributedPartitionNode(ctx, [new DataSourceNode(ctx, new SqlQueryDataSet('select i from range(10) t(i)'))], 10, { partitionByRows: true })
    const table = tableFromArrays({ i: new BigInt64Array(Array.from({ length: 10 }, (_, i) => BigInt(i))) })
    const b = new EvenlyDistributedPartitionNode(ctx, [new DataSourceNode(ctx, new ArrowTableDataSet(table))], 10, { partitionByRows: true })
    const j = new SqlEngineNode(ctx, [a, b], 'select {0}.i from {0} join {1} on {0}.i = {1}.i')
    const result = await driver(dir).run(new LogicalPlan(ctx, j))
    t.equal((await readSpec(result!.finalOutput)).length, 10)
  })

  await t.test('many row partitions: 200 partitions of 1 row each', async (t) => {
    const ctx = new Context()
    const src = new DataSourceNode(ctx, new SqlQueryDataSet('select i from range(200) t(i)'))
    const parts = new EvenlyDistributedPartitionNode(ctx, [src], 200, { partitionByRows: true })
    const result = await driver(dir).run(new LogicalPlan(ctx, new SqlEngineNode(ctx, [parts], 'select count(*) as n from {0}')))
    const rows = await readSpec(result!.finalOutput)
    t.equal(rows.length, 200)
    t.ok(rows.every((r) => num(r.n) === 1))
  })

  await t.test('arrow compute picks k rows per partition', async (t) => {
    const ctx = new Context()
    const parts = new EvenlyDistributedPartitionNode(ctx, [new DataSourceNode(ctx, parquet())], 3)
    const pick = new ArrowComputeNode(ctx, [parts], (_c, [table]) => table.slice(0, 5))
    const result = await driver(dir).run(new LogicalPlan(ctx, pick))
    t.equal((await readSpec(result!.finalOutput)).length, 15)
  })

  await t.test('arrow stream node sees exact batches and yields tables', async (t) => {
    const ctx = new Context()
    const src = new DataSourceNode(ctx, parquet())
    const stream = new ArrowStreamNode(ctx, [src], async function* (_c, [input]) {
      for await (const batch of input) yield tableFromArrays({ n: new BigInt64Array([BigInt(batch.numRows)]) })
    }, { streamingBatchSize: 300 })
    const result = await driver(dir).run(new LogicalPlan(ctx, stream))
    t.same((await readSpec(result!.finalOutput)).map((r) => num(r.n)), [300, 300, 300, 100])
  })

  await t.test('reload a hash partitioned output by its partition column and by hive dirs', async (t) => {
    const ctx = new Context()
    const hashed = new HashPartitionNode(ctx, [new DataSourceNode(ctx, parquet())], 5, ['url'])
    const first = await driver(dir).run(new LogicalPlan(ctx, hashed))
    const files = first!.finalOutput.kind === 'parquet' ? first!.finalOutput.files.map((f) => f.path) : []
    t.ok(files.length >= 5, `${files.length} files from the producers`)
    const ctx2 = new Context()
    const reload = DataSetPartitionNode(ctx2, [new DataSourceNode(ctx2, new ParquetDataSet(files))], 5, { dataPartitionColumn: '__data_partition__' })
    const counts = new SqlEngineNode(ctx2, [reload], 'select {__data_partition__} as p, count(*) as n, min(__data_partition__) as lo, max(__data_partition__) as hi from {0}')
    const rows = await readSpec((await driver(dir).run(new LogicalPlan(ctx2, counts)))!.finalOutput)
    t.equal(rows.length, 5, 'npartitions datasets')
    t.ok(rows.every((r) => num(r.p) === num(r.lo) && num(r.p) === num(r.hi)), 'each partition holds its own key only')
    t.equal(rows.reduce((s, r) => s + num(r.n), 0), 1000)
    const hiveRoot = join(dir, 'hive-reload')
    const db = await DuckDBInstance.create(':memory:', { threads: '1' })
    const conn = await db.connect()
    await conn.run(`copy (select i, i % 3 as k from range(30) t(i)) to '${hiveRoot}' (format parquet, partition_by (k))`)
    conn.closeSync(); db.closeSync()
    const ctx3 = new Context()
    const byHive = new LoadPartitionedDataSetNode(ctx3, [new DataSourceNode(ctx3, new ParquetDataSet(join(hiveRoot, '*', '*.parquet')))], 3, { dataPartitionColumn: 'k', hivePartitioning: true })
    const hiveRows = await readSpec((await driver(dir).run(new LogicalPlan(ctx3, new SqlEngineNode(ctx3, [byHive], 'select {k} as k, count(*) as n from {0}'))))!.finalOutput)
    t.same(hiveRows.map((r) => [num(r.k), num(r.n)]), [[0, 10], [1, 10], [2, 10]])
  })

  await t.test('repeat, user-defined and user-partitioned sources', async (t) => {
    const ctx = new Context()
    const sources = [0, 1, 2].map((i) => new SqlQueryDataSet(`select ${i} as x`))
    const src = new UserPartitionedDataSourceNode(ctx, sources, 'part')
    const repeated = new RepeatPartitionNode(ctx, [src], 4, 'copy')
    const q = new SqlEngineNode(ctx, [repeated], 'select x, {part} as part, {copy} as copy from {0}')
    const rows = await readSpec((await driver(dir).run(new LogicalPlan(ctx, q)))!.finalOutput, 'select * from ({0}) order by part, copy')
    t.equal(rows.length, 12)
    t.ok(rows.every((r) => num(r.x) === num(r.part)))
    const ctx2 = new Context()
    const byFile = new UserDefinedPartitionNode(ctx2, [new DataSourceNode(ctx2, parquet())], 2,
      (_c, ds) => ds.kind === 'parquet' ? [{ ...ds, files: ds.files.slice(0, 3) }, { ...ds, files: ds.files.slice(3) }] : [])
    const counts = new SqlEngineNode(ctx2, [byFile], 'select count(*) as n from {0}')
    const n = await readSpec((await driver(dir).run(new LogicalPlan(ctx2, counts)))!.finalOutput)
    t.same(n.map((r) => num(r.n)), [600, 400], 'two producers of 5 files each, split 3 + 2')
  })

  await t.test('data sink avoids filename conflicts of two script nodes writing `file` in 10 partitions', async (t) => {
    for (const type of ['link', 'copy'] as const) {
      const ctx = new Context()
      const parts = new EvenlyDistributedPartitionNode(ctx, [new DataSourceNode(ctx, parquet())], 10)
      const writeFile = async (_c: unknown, _i: unknown, out: string) => { await fsWriteFile(join(out, 'file'), 'x') }
      const scripts = [new ScriptNode(ctx, [parts], writeFile), new ScriptNode(ctx, [parts], writeFile)]
      const out = join(dir, `script-sink-${type}`)
      await driver(dir).run(new LogicalPlan(ctx, new RootNode(ctx, [new DataSinkNode(ctx, scripts, out, { type })])))
      const entries = await readdir(out)
      t.equal(entries.length, 21, `${type}: 20 renamed files + .MANIFEST.txt`)
      t.equal(entries.filter((e) => e.startsWith('file.')).length, 20)
    }
  })

  await t.test('sinks: link and copy avoid filename conflicts; copy keeps unique names', async (t) => {
    const base = join(dir, 'conflicts')
    const db = await DuckDBInstance.create(':memory:', { threads: '1' })
    const conn = await db.connect()
    const files: string[][] = [[], []]
    for (let g = 0; g < 2; g++) {
      for (let i = 0; i < 10; i++) {
        const d = join(base, `g${g}`, `p${i}`)
        await mkdir(d, { recursive: true })
        await conn.run(`copy (select ${g * 10 + i} as x) to '${d}/file.parquet' (format parquet)`)
        files[g].push(join(d, 'file.parquet'))
      }
    }
    conn.closeSync(); db.closeSync()
    for (const type of ['link', 'copy'] as const) {
      const ctx = new Context()
      const nodes = files.map((f) => new EvenlyDistributedPartitionNode(ctx, [new DataSourceNode(ctx, new ParquetDataSet(f))], 10))
      const out = join(dir, `sink-${type}`)
      const sink = new DataSinkNode(ctx, nodes, out, { type })
      await driver(dir).run(new LogicalPlan(ctx, new RootNode(ctx, [sink])))
      const entries = await readdir(out)
      t.equal(entries.length, 21, `${type}: 20 files + manifest`)
      t.ok(entries.includes('.MANIFEST.txt'))
      const rows = await readSpec({ kind: 'parquet', files: entries.filter((e) => e.endsWith('.parquet')).map((e) => ({ path: join(out, e) })), resolved: true, recursive: false, unionByName: false, generatedColumns: [] })
      t.equal(rows.length, 20)
    }
    const ctx = new Context()
    const copy = new DataSinkNode(ctx, [new DataSourceNode(ctx, parquet())], join(dir, 'sink-unique'), { type: 'copy' })
    await driver(dir).run(new LogicalPlan(ctx, new RootNode(ctx, [copy])))
    t.same((await readdir(join(dir, 'sink-unique'))).sort(), ['.MANIFEST.txt', ...Array.from({ length: 10 }, (_, i) => `urls${i}.parquet`)].sort())
  })

  await t.test('manifest sink lists every path', async (t) => {
    const ctx = new Context()
    const paths = Array.from({ length: 65536 }, (_, i) => `/nonexistent/f${i}`)
    const parts = new EvenlyDistributedPartitionNode(ctx, [new DataSourceNode(ctx, new FileSet(paths))], 64)
    const out = join(dir, 'manifest')
    await driver(dir).run(new LogicalPlan(ctx, new RootNode(ctx, [new DataSinkNode(ctx, [parts], out, { type: 'manifest' })])))
    t.equal((await readFile(join(out, '.MANIFEST.txt'), 'utf8')).trim().split('\n').length, 65536)
  })

  await t.test('driver writes FinalResults and named outputs', async (t) => {
    const ctx = new Context()
    const named = new SqlEngineNode(ctx, [new DataSourceNode(ctx, parquet())], 'select host from {0}', { outputName: 'hosts' })
    const result = await driver(dir).run(new LogicalPlan(ctx, new SqlEngineNode(ctx, [named], 'select count(*) as n from {0}')))
    t.match(result!.finalOutputPath, /output\/FinalResults$/)
    t.equal((await readFile(join(result!.finalOutputPath, '.MANIFEST.txt'), 'utf8')).trim().split('\n').length, 1)
    t.equal((await readSpec(result!.getOutput('hosts')!)).length, 1000)
    for (const f of ['config/logical_plan.txt', 'config/exec_plan.json', 'log/task_metrics.csv', 'log/.STATUS']) {
      t.ok((await readFile(join(result!.jobRoot, f), 'utf8')).length > 0, f)
    }
    t.match(await readFile(join(result!.jobRoot, 'log/task_metrics.csv'), 'utf8'), /^task_id,task_key,node_id,attempt,status,elapsed_ms,rows_written,error\n\d+,DataSourceTask-\d+,/)
  })
})
