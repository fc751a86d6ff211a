/** The 23 acceptance cases of reference §5.1 (test_dataframe.py and test_session.py), ported. */
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Int64, tableFromArrays, type Table } from 'apache-arrow'
import { makeMockUrls, num, session } from './fixtures.ts'

const ab = [{ a: 1n, b: 4n }, { a: 2n, b: 5n }, { a: 3n, b: 6n }]
const range1000 = Array.from({ length: 1000 }, (_, i) => i)

t.test('acceptance', async (t) => {
  const dir = t.testdir()
  const urls = await makeMockUrls(dir)
  const sp = await session(dir)
  t.teardown(() => sp.shutdown())

  await t.test('1. fromRecords round trip (from_pandas)', async (t) => {
    t.same(await sp.fromRecords([{ a: 1, b: 4 }, { a: 2, b: 5 }, { a: 3, b: 6 }]).toRecords(), ab)
  })

  await t.test('2. fromArrow round trip with int64 columns', async (t) => {
    const table = tableFromArrays({ a: new BigInt64Array([1n, 2n, 3n]), b: new BigInt64Array([4n, 5n, 6n]) })
    const out: Table = await sp.fromArrow(table).toArrow()
    t.ok(out.schema.fields.every((f) => f.type instanceof Int64), 'int64 columns')
    t.same(out.toArray().map((r) => r.toJSON()), ab)
  })

  await t.test('3. fromItems scalar', async (t) => {
    t.same(await sp.fromItems([1, 2, 3]).takeAll(), [{ item: 1n }, { item: 2n }, { item: 3n }])
  })

  await t.test('4. fromItems dicts', async (t) => {
    t.same(await sp.fromItems([{ a: 1, b: 4 }, { a: 2, b: 5 }, { a: 3, b: 6 }]).takeAll(), ab)
  })

  await t.test('5. readCsv count', async (t) => {
    const df = sp.readCsv(join(urls, '*.tsv'), { urlstr: 'varchar', valstr: 'varchar' }, { delim: '\\t' })
    t.equal(await df.count(), 1000)
  })

  await t.test('6. readParquet count', async (t) => {
    t.equal(await sp.readParquet(join(urls, '*.parquet')).count(), 1000)
  })

  await t.test('7. take', async (t) => {
    const df = sp.fromRecords(ab)
    t.same(await df.take(2), ab.slice(0, 2))
    t.same(await df.takeAll(), ab)
  })

  await t.test('8. map SQL', async (t) => {
    t.same(await sp.fromRecords(ab).map('a + b as c').takeAll(), [{ c: 5n }, { c: 7n }, { c: 9n }])
  })

  await t.test('9. map function, with and without schema', async (t) => {
    const df = sp.fromRecords(ab)
    t.same(await df.map((r) => ({ c: (r.a as bigint) + (r.b as bigint) })).takeAll(), [{ c: 5n }, { c: 7n }, { c: 9n }])
    const withNull = df.map((r) => ({ c: r.a == 1 ? null : (r.a as bigint) + (r.b as bigint) }), { schema: { c: 'BIGINT' } })
    t.same(await withNull.takeAll(), [{ c: null }, { c: 7n }, { c: 9n }])
  })

  await t.test('10. flatMap function and SQL', async (t) => {
    const df = sp.fromRecords(ab)
    const expect = [1n, 4n, 2n, 5n, 3n, 6n].map((c) => ({ c }))
    t.same(await df.flatMap((r) => [{ c: r.a }, { c: r.b }]).takeAll(), expect)
    t.same(await df.flatMap('unnest(array[a, b]) as c').takeAll(), expect)
    t.same(await df.flatMap(() => [{ c: null }], { schema: { c: 'BIGINT' } }).takeAll(), [{ c: null }, { c: null }, { c: null }])
  })

  await t.test('11. mapBatches re-batches exactly across files', async (t) => {
    const df = sp.readParquet(join(urls, '*.parquet'))
      .mapBatches((batch) => tableFromArrays({ num_rows: new BigInt64Array([BigInt(batch.numRows)]) }), { batchSize: 350 })
    t.same((await df.takeAll()).map((r) => num(r.num_rows)), [350, 350, 300])
  })

  await t.test('12. filter SQL and function', async (t) => {
    const df = sp.fromRecords(ab)
    t.same(await df.filter('a > 1').takeAll(), ab.slice(1))
    t.same(await df.filter((r) => (r.a as bigint) > 1n).takeAll(), ab.slice(1))
  })

  await t.test('13. randomShuffle loses nothing and mixes', async (t) => {
    const out = (await sp.fromItems(range1000).repartition(10, { byRows: true }).randomShuffle().takeAll()).map((r) => num(r.item))
    t.same([...out].sort((x, y) => x - y), range1000)
    let inversions = 0
    for (let i = 0; i < out.length; i++) for (let j = i + 1; j < out.length; j++) if (out[i] > out[j]) inversions++
    t.ok(inversions >= 220000 && inversions <= 280000, `inversions ${inversions} in [220000, 280000]`)
  })

  await t.test('14. repartition by value', async (t) => {
    const df = sp.fromItems(range1000).repartition(10, { by: 'item % 10' }).map('min(item % 10) as min, max(item % 10) as max')
    t.same((await df.takeAll()).map((r) => [num(r.min), num(r.max)]), Array.from({ length: 10 }, (_, i) => [i, i]))
  })

  await t.test('15. by-value key out of range', async (t) => {
    const df = sp.fromItems(range1000).repartition(10, { by: 'item % 11' })
    await t.rejects(df.toArrow(), /partition key 10 is out of range 0-9/)
  })

  await t.test('16. hash repartition preserves rows', async (t) => {
    const rows = await sp.fromItems(range1000).repartition(10, { hashBy: 'item' }).takeAll()
    t.same(rows.map((r) => num(r.item)).sort((x, y) => x - y), range1000)
    t.ok(rows.every((r) => '__data_partition__' in r && num(r.__data_partition__) < 10), 'rows carry __data_partition__')
  })

  await t.test('17. count', async (t) => {
    t.equal(await sp.fromItems([1, 2, 3]).count(), 3)
  })

  await t.test('18. limit', async (t) => {
    t.equal(await sp.fromItems(range1000).repartition(10, { byRows: true }).limit(2).count(), 2)
  })

  await t.test('19. partialSql with no input', async (t) => {
    t.same(await sp.partialSql('select * from range(3)').takeAll(), [{ range: 0n }, { range: 1n }, { range: 2n }])
  })

  await t.test('20. partialSql join', async (t) => {
    const a = sp.fromRecords([{ id1: 1, val1: 'a' }, { id1: 2, val1: 'b' }, { id1: 3, val1: 'c' }])
    const b = sp.fromRecords([{ id2: 1, val2: 'd' }, { id2: 2, val2: 'e' }, { id2: 3, val2: 'f' }])
    const rows = await sp.partialSql('select id1, val1, val2 from {0} join {1} on id1 = id2 order by id1', a, b).takeAll()
    t.same(rows, [{ id1: 1n, val1: 'a', val2: 'd' }, { id1: 2n, val1: 'b', val2: 'e' }, { id1: 3n, val1: 'c', val2: 'f' }])
  })

  await t.test('21. SQL error names the SQL', async (t) => {
    const df = sp.partialSql('select a,, from {0}', sp.fromRecords(ab))
    const error = await df.toArrow().then(() => undefined, (e: Error & { code?: string }) => e)
    t.match(error?.message, /select a,, from/)
    t.equal(error?.code, 'ERR_SMALLPOND_SQL')
  })
})

t.test('22. shutdown after success cleans up and records success', async (t) => {
  const dir = t.testdir()
  const sp = await session(dir)
  for (const d of ['queue', 'staging', 'temp']) t.ok(existsSync(join(sp.jobRoot, d)), `${d}/ after init`)
  await sp.fromItems([1, 2, 3]).writeParquet(join(sp.jobRoot, 'output'))
  await sp.shutdown()
  for (const d of ['queue', 'staging', 'temp']) t.notOk(existsSync(join(sp.jobRoot, d)), `${d}/ removed`)
  t.match(readFileSync(join(sp.jobRoot, 'log', '.STATUS'), 'utf8'), /success@/)
  await sp.shutdown()
})

t.test('23. shutdown after failure keeps dirs and records failure', async (t) => {
  const dir = t.testdir()
  const sp = await session(dir)
  await t.rejects(sp.fromItems([1, 2, 3]).map((r) => ({ x: (r.item as bigint) / 0n })).compute(), /Division by zero/)
  await sp.shutdown()
  for (const d of ['queue', 'staging', 'temp']) t.ok(existsSync(join(sp.jobRoot, d)), `${d}/ kept`)
  t.match(readFileSync(join(sp.jobRoot, 'log', '.STATUS'), 'utf8'), /failure@/)
})
