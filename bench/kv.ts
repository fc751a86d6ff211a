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
 * - (no fsync) rows: the same pair with noSync, CPU-bound: the layer's own cost per transaction.
 * Raw and kv run in alternating short rounds so that load from other processes hits both alike;
 * txn_vs_raw is the median of the per-round ratios. Ends with one JSON line.
 */
import { open } from 'lmdb'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { openKv } from '../actors/kv/open-kv.ts'

const DURATION_MS = Number(process.env.BENCH_KV_MS ?? 2000)
const ROUNDS = 10
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

type Slice = (ms: number) => Promise<RunResult>

/** One putSync (or get+putSync) per synchronous LMDB write transaction, for `ms`. */
function rawSlicer(path: string, readFirst: boolean, noSync = false): { slice: Slice; close: () => Promise<void> } {
  const db = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary', noSync })
  let n = 0
  const slice: Slice = async (ms) => {
    let ops = 0
    const start = performance.now()
    while (performance.now() - start < ms) {
      const k = keyOf(n++ % KEYS)
      db.transactionSync(() => {
        const v = readFirst ? numberOf(db.getBinary(k)) : n
        db.putSync(k, valueOf(v + 1))
      })
      ops++
    }
    return { ops, ms: performance.now() - start, retries: 0 }
  }
  return { slice, close: () => db.close() }
}

/** kv.transact(get k; set k = v+1) on a random key among `keys`, for `ms`. */
async function kvSlicer(path: string, keys: number, seed: number, noSync = false): Promise<{ slice: Slice; close: () => Promise<void> }> {
  const kv = await openKv({ backend: 'lmdb', path, noSync })
  let x = seed
  const slice: Slice = async (ms) => {
    let ops = 0
    const retriesBefore = kv.stats.retries
    const start = performance.now()
    while (performance.now() - start < ms) {
      x = (x * 1103515245 + 12345) & 0x7fffffff
      const k = keyOf(x % keys)
      await kv.transact(async (tx) => {
        const n = numberOf(await tx.get(k))
        tx.set(k, valueOf(n + 1))
      })
      ops++
    }
    return { ops, ms: performance.now() - start, retries: kv.stats.retries - retriesBefore }
  }
  return { slice, close: () => kv.close() }
}

async function kvTxns(path: string, keys: number, seed: number): Promise<RunResult> {
  const s = await kvSlicer(path, keys, seed)
  const r = await s.slice(DURATION_MS)
  await s.close()
  return r
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

function add(a: RunResult, b: RunResult): RunResult {
  return { ops: a.ops + b.ops, ms: a.ms + b.ms, retries: a.retries + b.retries }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 't3fs-bench-kv-'))
  try {
    // Raw and kv alternate in short slices so load from other processes hits both alike.
    const raw = rawSlicer(join(root, 'raw'), false)
    const rawRmw = rawSlicer(join(root, 'rawrmw'), true)
    const kv = await kvSlicer(join(root, 'kv1'), KEYS, 1)
    const sliceMs = DURATION_MS / ROUNDS
    let rawTotal: RunResult = { ops: 0, ms: 0, retries: 0 }
    let rmwTotal: RunResult = { ops: 0, ms: 0, retries: 0 }
    let kvTotal: RunResult = { ops: 0, ms: 0, retries: 0 }
    const ratios: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const r = await raw.slice(sliceMs)
      const m = await rawRmw.slice(sliceMs)
      const k = await kv.slice(sliceMs)
      rawTotal = add(rawTotal, r)
      rmwTotal = add(rmwTotal, m)
      kvTotal = add(kvTotal, k)
      ratios.push(rate(k) / rate(r))
    }
    await Promise.all([raw.close(), rawRmw.close(), kv.close()])
    // The same pair without fsync: CPU-bound, so it shows the layer's own cost.
    const rawNs = rawSlicer(join(root, 'rawns'), false, true)
    const kvNs = await kvSlicer(join(root, 'kvns'), KEYS, 1, true)
    let rawNsTotal: RunResult = { ops: 0, ms: 0, retries: 0 }
    let kvNsTotal: RunResult = { ops: 0, ms: 0, retries: 0 }
    const nsRatios: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const r = await rawNs.slice(sliceMs / 2)
      const k = await kvNs.slice(sliceMs / 2)
      rawNsTotal = add(rawNsTotal, r)
      kvNsTotal = add(kvNsTotal, k)
      nsRatios.push(rate(k) / rate(r))
    }
    await Promise.all([rawNs.close(), kvNs.close()])
    const twoPath = join(root, 'kv2')
    const two = await Promise.all([inWorker(twoPath, 1), inWorker(twoPath, 2)])
    const twoOps = two.reduce((s, r) => s + r.ops, 0)
    const twoRetries = two.reduce((s, r) => s + r.retries, 0)
    const twoRate = two.reduce((s, r) => s + rate(r), 0)
    const counted = await sumCounters(twoPath)
    if (counted !== twoOps) throw new Error(`lost update: ${twoOps} increments committed but the counters sum to ${counted}`)
    const txnVsRaw = median(ratios)
    const rows: Array<[string, string, string]> = [
      ['raw lmdb put (1 putSync per transactionSync)', rate(rawTotal).toFixed(0), '1.00'],
      ['raw lmdb get+put (1 transactionSync)', rate(rmwTotal).toFixed(0), (rate(rmwTotal) / rate(rawTotal)).toFixed(2)],
      [`kv txn get+set, 1 worker, ${KEYS} keys`, rate(kvTotal).toFixed(0), (rate(kvTotal) / rate(rawTotal)).toFixed(2)],
      [`kv txn get+set, 2 threads, ${HOT_KEYS} hot keys`, twoRate.toFixed(0), (twoRate / rate(rawTotal)).toFixed(2)],
      ['(no fsync) raw lmdb put, noSync', rate(rawNsTotal).toFixed(0), '-'],
      ['(no fsync) kv txn get+set, noSync', rate(kvNsTotal).toFixed(0), `${median(nsRatios).toFixed(2)} of raw noSync`],
    ]
    console.log(`kv bench on lmdb: ${ROUNDS} alternating rounds of ${sliceMs} ms per single-thread row, ${DURATION_MS} ms for the two-thread row; ${VALUE_BYTES}-byte values; durable commits (lmdb defaults) on every row`)
    console.log('compared: a kv transaction (snapshot get + set, conflict check, commit) vs one putSync inside one lmdb transactionSync')
    console.log('| what | per s | vs raw put |')
    console.log('|---|---:|---:|')
    for (const [what, perS, ratio] of rows) console.log(`| ${what} | ${perS} | ${ratio} |`)
    console.log(`per-round kv/raw ratios: ${ratios.map((r) => r.toFixed(2)).join(' ')} (median ${txnVsRaw.toFixed(3)})`)
    console.log(`two-thread run: ${twoOps} commits, ${twoRetries} conflict retries (${(twoRetries / Math.max(1, twoOps)).toFixed(3)} per commit); counters sum to ${counted} (no lost update)`)
    console.log(JSON.stringify({
      bench: 'kv',
      txn_per_s: Math.round(rate(kvTotal)),
      raw_put_per_s: Math.round(rate(rawTotal)),
      txn_vs_raw: Number(txnVsRaw.toFixed(3)),
      conflict_retry_rate: Number((twoRetries / Math.max(1, twoOps)).toFixed(4)),
      two_worker_txn_per_s: Math.round(twoRate),
      txn_vs_raw_nosync: Number(median(nsRatios).toFixed(3)),
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
