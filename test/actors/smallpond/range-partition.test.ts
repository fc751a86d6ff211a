/**
 * Range partitioning (smallpond's RangePartitionNode, unimplemented upstream), on real DuckDB:
 * rows land in the partition whose range holds their value, with split points given (numbers and
 * strings, several producers) or sampled quantiles (one producer over the whole input); NULLs go
 * to partition 0; a sort within partitions then sorts the whole; bad arguments are coded errors.
 */
import t from 'tap'
import * as smallpond from '../../../actors/smallpond/index.ts'
import { RangePartitionNode } from '../../../actors/smallpond/logical/nodes/partition-nodes.ts'
import { Context } from '../../../actors/smallpond/logical/nodes/node.ts'
import { DataSourceNode } from '../../../actors/smallpond/logical/nodes/data-source-node.ts'
import { SqlQueryDataSet } from '../../../actors/smallpond/logical/dataset.ts'
import { session } from './fixtures.ts'

interface Part { part: number; n: number; lo: number | null; hi: number | null; nulls: number }

async function partitions(df: smallpond.DataFrame, sp: smallpond.Session, column: string): Promise<Part[]> {
  const summary = sp.partialSql(`select {__data_partition__}::integer as part, count(*)::bigint as n, min(${column}) as lo, max(${column}) as hi, ` +
    `count(*) filter (where ${column} is null)::bigint as nulls from {0}`, df)
  const rows = await summary.toRecords()
  return rows.map((r) => ({ part: Number(r.part), n: Number(r.n), lo: r.lo === null ? null : Number(r.lo), hi: r.hi === null ? null : Number(r.hi), nulls: Number(r.nulls) }))
    .sort((a, b) => a.part - b.part)
}

t.test('range partitions', async (t) => {
  const dir = t.testdir()
  const sp = await session(dir)
  t.teardown(() => sp.shutdown())
  // 4 source partitions, so a given-split-points shuffle has several producers.
  const source = sp.partialSql('select i, case when i % 97 = 0 then null else (i * 7919) % 10000 end as v, ' +
    "chr(97 + (i % 26)::integer) || i::varchar as s from range(20000) t(i)").repartition(4, { byRows: false, hashBy: 'i' })

  await t.test('given split points: each row in its range, NULLs in partition 0', async (t) => {
    const ranged = source.rangePartition(4, { by: 'v', splitPoints: [2500, 5000, 7500] })
    const parts = await partitions(ranged, sp, 'v')
    t.equal(parts.length, 4, 'four partitions')
    t.equal(parts.reduce((a, p) => a + p.n, 0), 20000, 'no row lost or doubled')
    const bounds = [-Infinity, 2500, 5000, 7500, Infinity]
    for (const p of parts) {
      t.ok(p.lo! >= bounds[p.part] && p.hi! < bounds[p.part + 1], `partition ${p.part}: [${p.lo}, ${p.hi}] within [${bounds[p.part]}, ${bounds[p.part + 1]})`)
    }
    t.equal(parts[0].nulls, Math.ceil(20000 / 97), 'every NULL in partition 0')
    t.equal(parts.slice(1).reduce((a, p) => a + p.nulls, 0), 0, 'no NULL elsewhere')
    const exact = await sp.partialSql('select count(*)::bigint as n from {0} where v = 5000', source).toRecords()
    const atBoundary = await sp.partialSql('select {__data_partition__}::integer as part, count(*)::bigint as n from {0} where v = 5000', ranged).toRecords()
    const total = exact.reduce((a, r) => a + Number(r.n), 0)
    t.ok(total > 0, 'the data holds the boundary value 5000')
    t.same(atBoundary.filter((r) => Number(r.n) > 0).map((r) => Number(r.part)), [2], 'a value equal to a split point opens the next range')
  })

  await t.test('sampled quantiles: ordered, disjoint and roughly equal partitions', async (t) => {
    const ranged = source.rangePartition(8, { by: 'v', sampleRows: 5000 })
    const parts = await partitions(ranged, sp, 'v')
    t.equal(parts.length, 8)
    t.equal(parts.reduce((a, p) => a + p.n, 0), 20000, 'no row lost or doubled')
    for (let k = 1; k < parts.length; k++) t.ok(parts[k - 1].hi! < parts[k].lo!, `partition ${k - 1} ends below partition ${k}`)
    const nonNull = parts.map((p) => p.n - p.nulls)
    t.ok(Math.min(...nonNull) > 1500 && Math.max(...nonNull) < 3500, `about 2500 rows each: ${nonNull.join(' ')}`)
    const plan = sp.planner.plan(ranged.plan)
    t.ok(plan.length === 8, 'eight partitions planned')
  })

  await t.test('string split points, and a sort within partitions sorts the whole', async (t) => {
    const ranged = source.rangePartition(3, { by: 's', splitPoints: ['h', 'q'] })
    const sorted = ranged.partialSort('s')
    const rows = (await sorted.takeAll()).map((r) => String(r.s))
    t.equal(rows.length, 20000)
    t.ok(rows.every((s, i) => i === 0 || rows[i - 1] <= s), 'concatenated partitions are globally sorted')
  })

  await t.test('bad arguments are coded errors naming the field', async (t) => {
    const code = { code: 'ERR_SMALLPOND_INVALID_ARGUMENT' }
    t.throws(() => source.rangePartition(3, { by: 'v', splitPoints: [5, 2] }), { ...code, message: /splitPoints\[1\]/ })
    t.throws(() => source.rangePartition(5, { by: 'v', splitPoints: [1, 2] }), { ...code, message: /npartitions.*splitPoints.length \+ 1 = 3/ })
    t.throws(() => source.rangePartition(3, { by: 'v', splitPoints: [1, 'x'] as never }), { ...code, message: /splitPoints\[1\]/ })
    t.throws(() => source.rangePartition(3, { by: '' }), { ...code, message: /column/ })
    t.throws(() => source.rangePartition(3, { by: 'v', sampleRows: 0 }), { ...code, message: /sampleRows/ })
    t.throws(() => source.rangePartition(3, { by: 'v', nested: true, dimension: 'r' }), { ...code, message: /splitPoints/ })
  })
})

t.test('RangePartitionNode: one producer when sampling, many with split points', async (t) => {
  const ctx = new Context()
  const src = new DataSourceNode(ctx, new SqlQueryDataSet('select 1 as v'))
  t.equal(new RangePartitionNode(ctx, [src], 4, 'v').maxNumProducerTasks, 1)
  t.equal(new RangePartitionNode(ctx, [src], 3, 'v', { splitPoints: [1, 2] }).maxNumProducerTasks, 1000)
})
