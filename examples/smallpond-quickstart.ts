/**
 * smallpond quick start (the README example): per-ticker min/max price over a Parquet file,
 * hash-partitioned by ticker into 3 partitions. Generates its own prices.parquet.
 *
 *   npm run example:quickstart
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DuckDBInstance } from '@duckdb/node-api'
import * as smallpond from '../actors/smallpond/index.ts'

async function makePrices(path: string): Promise<void> {
  const db = await DuckDBInstance.create(':memory:', { threads: '1' })
  const conn = await db.connect()
  await conn.run(`select setseed(0.42)`)
  await conn.run(`copy (
      select t.ticker, date '2024-01-01' + d.i::int as date, round(50 + 100 * random(), 2) as price
      from (values ('AAPL'), ('MSFT'), ('NVDA'), ('GOOG'), ('AMZN'), ('META'), ('TSLA'), ('AVGO')) t(ticker), range(250) d(i)
    ) to '${path}' (format parquet)`)
  conn.closeSync()
  db.closeSync()
}

const work = await mkdtemp(join(tmpdir(), 'smallpond-quickstart-'))
const prices = join(work, 'prices.parquet')
await makePrices(prices)

const sp = await smallpond.init({ dataRoot: join(work, 'data') })
const df = sp.readParquet(prices).repartition(3, { hashBy: 'ticker' })
const stats = sp.partialSql('select ticker, min(price) as min_price, max(price) as max_price from {0} group by ticker', df)
await stats.writeParquet(join(work, 'output'))
const rows = await stats.toRecords()
rows.sort((a, b) => String(a.ticker).localeCompare(String(b.ticker)))
console.table(rows)
console.log(`${rows.length} tickers; results written to ${join(work, 'output')} (kept with KEEP=1); job dir ${sp.jobRoot}`)
await sp.shutdown()
if (process.env.KEEP !== '1') await rm(work, { recursive: true, force: true })
