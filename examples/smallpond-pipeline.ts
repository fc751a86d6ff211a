/**
 * smallpond's low-level pipeline (README): DataSourceNode → DataSetPartitionNode → SqlEngineNode,
 * run by the Driver. Generates 10 Parquet files of URLs first.
 *
 *   npm run example:pipeline -- [--npartitions 4] [--data_root DIR] [--num_executors N]
 */
import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import {
  Context, DataSourceNode, DataSetPartitionNode, Driver, LogicalPlan, ParquetDataSet, SqlEngineNode,
} from '../actors/smallpond/index.ts'

async function makeUrls(dir: string): Promise<string> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  for (let f = 0; f < 10; f++) {
    await conn.run(`copy (select 'host' || (i % 37) || '.example.com' as host, 'https://host' || (i % 37) || '.example.com/p/' || i as url
      from range(${f * 1000}, ${(f + 1) * 1000}) t(i)) to '${join(dir, `urls${f}.parquet`)}' (format parquet)`)
  }
  conn.closeSync()
  db.closeSync()
  return join(dir, '*.parquet')
}

const driver = new Driver()
driver.addArgument('npartitions', { default: '4' })
const work = await mkdtemp(join(tmpdir(), 'smallpond-pipeline-'))
const argv = process.argv.slice(2)
const { user } = driver.parseArguments(argv.some((a) => a.startsWith('--data_root')) ? argv : [...argv, `--data_root=${join(work, 'data')}`])

const ctx = new Context()
const dataset = new ParquetDataSet([await makeUrls(work)])
let node = new DataSourceNode(ctx, dataset)
node = DataSetPartitionNode(ctx, [node], Number(user.npartitions)) as DataSourceNode
const counts = new SqlEngineNode(ctx, [node], 'select host, count(*) as urls from {0} group by host', { outputName: 'host_counts' })
const plan = new LogicalPlan(ctx, counts)
console.log(plan.explainStr())
const result = await driver.run(plan)
if (result) {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  const manifest = join(result.finalOutputPath, '.MANIFEST.txt')
  const files = (await readFile(manifest, 'utf8')).trim().split('\n')
  const reader = await conn.runAndReadAll(`select count(distinct host) as hosts, sum(urls) as urls
    from read_parquet([${files.map((f) => `'${f}'`).join(', ')}])`)
  console.log('final results manifest:', manifest, reader.getRowObjectsJS()[0])
  conn.closeSync()
  db.closeSync()
}
