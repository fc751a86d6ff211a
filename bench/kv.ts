/**
 * `npm run bench:kv`: small read-modify-write transactions per second through the KV layer on the
 * lmdb backend, beside raw lmdb puts on the same machine in the same run.
 *
 * What is compared (both durable, default lmdb sync settings, same value size, fresh env each):
 * - raw put:    one `putSync` inside one synchronous LMDB write transaction (`transactionSync`);
 *               the cheapest durable single-key write lmdb offers without batching.
 * - raw rmw:    `getBinary` + `putSync` inside one `transactionSync` (for reference).
 * - kv txn:     `kv.transact(tx => { get(k); set(k, v+1) })`: snapshot read txn, conflict check
 *               against the on-disk log, apply + log append in one LMDB write transaction.
 * - kv txn x2:  two worker threads doing the same on a small hot key set, so they conflict;
 *               conflict_retry_rate = retries / committed transactions.
 * Ends with one JSON line; txn_vs_raw = single-worker kv txn/s ÷ raw put/s.
 */
import { open } from 'lmdb'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { openKv } from '../actors/kv/open-kv.ts'

const DURATION_MS = Number(process.env.BENCH_KV_MS ?? 2000)
const KEYS = 1000
const HOT_KEYS = 2
const VALUE_BYTES = 100

const keyOf = (i: number) => Buffer.from(`acct/${String(i).padStart(6, '0')}`)
const valueOf = (n: number) => {
  const v = Buffer.alloc(VALUE_BYTES, 0x20)
  v.write(String(n))
  return v
}
const numberOf = (v: Buffer | undefined) => (v === undefined ? 0 : Number.parseInt(v.toString('latin1'), 10))

interface RunResult {
  ops: number
  ms: number
  retries: number
}

function rawPuts(path: string, readFirst: boolean): RunResult {
  const db = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
  let ops = 0
  const start = performance.now()
  while (performance.now() - start < DURATION_MS) {
    const k = keyOf(ops % KEYS)
    db.transactionSync(() => {
      const n = readFirst ? numberOf(db.getBinary(k)) : ops
      db.putSync(k, valueOf(n + 1))
    })
    ops++
  }
  const ms = performance.now() - start
  void db.close()
  return { ops, ms, retries: 0 }
}

async function kvTxns(path: string, keys: number, seed: number): Promise<RunResult> {
  const kv = await openKv({ backend: 'lmdb', path })
  let ops = 0
  let x = seed
  const start = performance.now()
  while (performance.now() - start < DURATION_MS) {
    x = (x * 1103515245 + 12345) & 0x7fffffff
    const k = keyOf(x % keys)
    await kv.transact(async (tx) => {
      const n = numberOf(await tx.get(k))
      tx.set(k, valueOf(n + 1))
    })
    ops++
  }
  const ms = performance.now() - start
  const retries = kv.stats.retries
  await kv.close()
  return { ops, ms, retries }
}

function inWorker(path: string, seed: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(
      "const { workerData } = require('node:worker_threads'); import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.file) })",
      { eval: true, workerData: { file: import.meta.url, path, seed } },
    )
    w.once('message', resolve)
    w.once('error', reject)
  })
}

async function sumCounters(path: string): Promise<number> {
  const kv = await openKv({ backend: 'lmdb', path })
  let sum = 0
  for (let i = 0; i < HOT_KEYS; i++) sum += numberOf(await kv.transact((tx) => tx.get(keyOf(i))))
  await kv.close()
  return sum
}

const rate = (r: RunResult) => (r.ops * 1000) / r.ms

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 't3fs-bench-kv-'))
  try {
    const raw = rawPuts(join(root, 'raw'), false)
    const rawRmw = rawPuts(join(root, 'rawrmw'), true)
    const one = await kvTxns(join(root, 'kv1'), KEYS, 1)
    const twoPath = join(root, 'kv2')
    const two = await Promise.all([inWorker(twoPath, 1), inWorker(twoPath, 2)])
    const twoOps = two.reduce((s, r) => s + r.ops, 0)
    const twoRetries = two.reduce((s, r) => s + r.retries, 0)
    const twoRate = two.reduce((s, r) => s + rate(r), 0)
    const counted = await sumCounters(twoPath)
    if (counted !== twoOps) throw new Error(`lost update: ${twoOps} increments committed but the counters sum to ${counted}`)
    const rows: Array<[string, string, string]> = [
      ['raw lmdb put (1 putSync per transactionSync)', rate(raw).toFixed(0), '1.00'],
      ['raw lmdb get+put (1 transactionSync)', rate(rawRmw).toFixed(0), (rate(rawRmw) / rate(raw)).toFixed(2)],
      [`kv txn get+set, 1 worker, ${KEYS} keys`, rate(one).toFixed(0), (rate(one) / rate(raw)).toFixed(2)],
      [`kv txn get+set, 2 threads, ${HOT_KEYS} hot keys`, twoRate.toFixed(0), (twoRate / rate(raw)).toFixed(2)],
    ]
    console.log(`kv bench on lmdb: ${DURATION_MS} ms per row, ${VALUE_BYTES}-byte values, durable commits (lmdb defaults) on both sides`)
    console.log('| what | per s | vs raw put |')
    console.log('|---|---:|---:|')
    for (const [what, perS, ratio] of rows) console.log(`| ${what} | ${perS} | ${ratio} |`)
    console.log(`two-thread run: ${twoOps} commits, ${twoRetries} conflict retries (${(twoRetries / Math.max(1, twoOps)).toFixed(3)} per commit); counters sum to ${counted} (no lost update)`)
    console.log(JSON.stringify({
      bench: 'kv',
      txn_per_s: Math.round(rate(one)),
      raw_put_per_s: Math.round(rate(raw)),
      txn_vs_raw: Number((rate(one) / rate(raw)).toFixed(3)),
      conflict_retry_rate: Number((twoRetries / Math.max(1, twoOps)).toFixed(4)),
      two_worker_txn_per_s: Math.round(twoRate),
      compared: 'kv get+set transaction vs one putSync per lmdb transactionSync',
    }))
  } finally {
    rmSync(root, { recursive: true, force: true })
  }
}

if (isMainThread) {
  await main()
} else {
  const { path, seed } = workerData as { path: string; seed: number }
  parentPort?.postMessage(await kvTxns(path, HOT_KEYS, seed))
}
