/**
 * smallpond with its data root on the t3fs FUSE mount of a dev cluster (npm start's profiles):
 * DuckDB reads and writes Parquet through the mount (pread/pwrite, fsync, rename, truncate of its
 * temp files), a hash shuffle and per-partition SQL run there, and the results match the same job
 * on a local directory. A DuckDB database file on the mount exercises its WAL/checkpoint path.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import * as smallpond from '../../../actors/smallpond/index.ts'
import { mountSkipReason, reportClusterOnFailure, startDevCluster, type DevCluster } from '../../support/dev-cluster.ts'

const skip = mountSkipReason()
if (skip !== null) t.comment(`skipping smallpond on the t3fs mount: ${skip}`)
// A cluster id of its own: another test's dev cluster may be mounted beside it (tests run two at a
// time), and t3fs://t3fs/ would find that one's mount, which goes away (or goes stale) mid-test.
const clusterId = `sp-${process.pid}`
let cluster: DevCluster | null = null
t.before(async () => {
  if (skip === null) cluster = await startDevCluster({ clusterId })
})
reportClusterOnFailure(t, () => cluster)
t.teardown(async () => {
  await cluster?.close()
})
// Each well within the file's 300 s (a start takes ~25 s): a hang fails its subtest, and the cluster's warnings get printed.
const opts = { skip: skip ?? false, timeout: 75_000 }

async function job(dataRoot: string, outDir: string): Promise<Record<string, unknown>[]> {
  const sp = await smallpond.init({ dataRoot, numExecutors: 2, progress: false, randomSeed: 7, removeOutputRoot: false })
  try {
    const df = sp.partialSql('select i, i % 7 as k, repeat(chr(65 + (i % 26)::integer), 40) as pad from range(200000) t(i)')
      .repartition(4, { hashBy: 'k' })
    const agg = sp.partialSql('select k, count(*)::bigint as n, sum(i)::bigint as s from {0} group by k', df)
    await agg.writeParquet(outDir)
    const rows = (await agg.toRecords()).map((r) => ({ k: Number(r.k), n: Number(r.n), s: Number(r.s) }))
    return rows.sort((a, b) => a.k - b.k)
  } finally {
    await sp.shutdown()
  }
}

t.test('a shuffle and per-partition SQL with the data root on the mount match a local run', opts, async (t) => {
  const local = mkdtempSync(join(tmpdir(), 'sp-local-'))
  t.teardown(() => rmSync(local, { recursive: true, force: true }))
  const expected = await job(join(local, 'data'), join(local, 'out'))
  const onMount = await job(join(cluster!.mnt, 'sp-data'), join(cluster!.mnt, 'sp-out'))
  t.equal(expected.length, 7, 'seven keys')
  t.same(onMount, expected, 'same aggregates through the mount')
  const files = (await readdir(join(cluster!.mnt, 'sp-out'))).filter((f) => f.endsWith('.parquet'))
  t.ok(files.length > 0, 'writeParquet left Parquet files on the mount')
  const jobs = await readdir(join(cluster!.mnt, 'sp-data'))
  t.equal(jobs.length, 1, 'one job dir on the mount')
  t.ok((await stat(join(cluster!.mnt, 'sp-data', jobs[0], 'log', '.STATUS'))).size > 0, '.STATUS written on the mount')
})

t.test('t3fs:// paths (data root, input, output) go through the mount of their cluster', opts, async (t) => {
  const seed = await smallpond.init({ dataRoot: `t3fs://${clusterId}/url-seed`, progress: false })
  await seed.partialSql('select i, i % 3 as k from range(3000) t(i)').writeParquet(`t3fs://${clusterId}/url-input`)
  await seed.shutdown()
  const sp = await smallpond.init({ dataRoot: `t3fs://${clusterId}/url-data`, progress: false })
  t.ok(sp.jobRoot.startsWith(join(cluster!.mnt, 'url-data')), `job dir under the mount: ${sp.jobRoot}`)
  const out = sp.readParquet(`t3fs://${clusterId}/url-input/*.parquet`).partialSql('select k, count(*)::bigint as n from {0} group by k')
  await out.writeParquet(`t3fs://${clusterId}/url-output`)
  const rows = (await out.toRecords()).map((r) => [Number(r.k), Number(r.n)]).sort((a, b) => a[0] - b[0])
  await sp.shutdown()
  t.same(rows, [[0, 1000], [1, 1000], [2, 1000]])
  t.ok((await readdir(join(cluster!.mnt, 'url-output'))).some((f) => f.endsWith('.parquet')), 'output on the mount')
  await t.rejects(smallpond.init({ dataRoot: 't3fs://no-such-cluster/x', progress: false }), { code: 'ERR_SMALLPOND_T3FS_NOT_MOUNTED' })
  const status = await cluster!.status() as { fuse: { mountPoint: string } | null }
  t.equal(status.fuse?.mountPoint, cluster!.mnt, 't3fs status --cluster-id reaches the cluster and its mount')
})

t.test('a DuckDB database file on the mount survives writes, a checkpoint and a reopen', opts, async (t) => {
  const path = join(cluster!.mnt, 'duck.db')
  const db = await DuckDBInstance.create(path)
  const conn = await db.connect()
  await conn.run('create table t as select i, i * 2 as j from range(300000) t(i)')
  await conn.run('checkpoint')
  await conn.run('delete from t where i % 2 = 0')
  await conn.run('insert into t select i, 0 from range(300000, 300010) t(i)')
  conn.closeSync()
  db.closeSync()
  const again = await DuckDBInstance.create(path)
  const c2 = await again.connect()
  const rows = (await c2.runAndReadAll('select count(*)::bigint, sum(i)::bigint from t')).getRowsJS()[0]
  c2.closeSync()
  again.closeSync()
  t.equal(Number(rows[0]), 150_010, 'rows after delete and insert')
  t.equal(BigInt(rows[1] as bigint), 22_500_000_000n + 3_000_045n, 'sum after reopen')
})
