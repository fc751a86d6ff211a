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
 * - create x1, x16: 1 or 16 concurrent clients (one thread, as in a meta server) each doing
 *               create-like transactions: a read of a missing dentry key, then a put of an inode
 *               and of the dentry (as a metadata create does). With 16, commits that arrive while
 *               a batch is being written share the next one (group commit): txn16_vs_raw_put.
 * - create x16, no batching: the same with groupCommit { maxTxns: 1 } (one LMDB transaction
 *               per commit), to show what the batching buys.
 * - (no fsync) rows: the same pair with noSync, CPU-bound: the layer's own cost per transaction.
 * Raw and kv run in alternating short rounds so that load from other processes hits both alike;
 * txn_vs_raw, txn1_vs_raw_put and txn16_vs_raw_put are medians of the per-round ratios. Progress
 * (which rows, which round) goes to stderr; stdout ends with one JSON line.
 */
import { open } from 'lmdb'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { openKv } from '../actors/kv/open-kv.ts'
import { Progress, type ProgressUpdate } from '../runtime/progress/progress.ts'

const DURATION_MS = Number(process.env.BENCH_KV_MS ?? 2000)
const ROUNDS = 10
const KEYS = 1000
const HOT_KEYS = 2
const VALUE_BYTES = 100
const INODE_BYTES = 100
const CREATE_CLIENTS = 16

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

/** `clients` concurrent loops of create-like transactions (get a missing dentry; put inode + dentry), for `ms`. */
async function createSlicer(path: string, clients: number, maxTxns?: number): Promise<{ slice: Slice; close: () => Promise<void>; batches: () => number }> {
  const kv = await openKv({ backend: 'lmdb', path, ...(maxTxns === undefined ? {} : { groupCommit: { maxTxns } }) })
  let next = 0
  const inode = Buffer.alloc(INODE_BYTES, 0x69)
  const slice: Slice = async (ms) => {
    let ops = 0
    const retriesBefore = kv.stats.retries
    const start = performance.now()
    const client = async () => {
      while (performance.now() - start < ms) {
        const id = next++
        const dentry = Buffer.from(`dent/${String(id % 64).padStart(4, '0')}/file-${id}`)
        await kv.transact(async (tx) => {
          if ((await tx.get(dentry)) !== undefined) throw new Error(`bench: ${dentry.toString()} exists`)
          tx.set(Buffer.from(`inod/${String(id).padStart(12, '0')}`), inode)
          tx.set(dentry, Buffer.from(String(id).padStart(16, '0')))
        })
        ops++
      }
    }
    await Promise.all(Array.from({ length: clients }, () => client()))
    return { ops, ms: performance.now() - start, retries: kv.stats.retries - retriesBefore }
  }
  return { slice, close: () => kv.close(), batches: () => kv.stats.batches ?? 0 }
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

interface Measured {
  total: RunResult
  /** This row's rate ÷ the first row's, per round. */
  ratios: number[]
}

/**
 * Runs the slicers one after another in `ROUNDS` alternating rounds of `sliceMs` each, so load
 * from other processes hits them alike; ratios are to the first slicer (the baseline) per round.
 */
async function alternate(slicers: Slice[], sliceMs: number, update: (u: ProgressUpdate) => void): Promise<Measured[]> {
  const out: Measured[] = slicers.map(() => ({ total: { ops: 0, ms: 0, retries: 0 }, ratios: [] }))
  for (let round = 0; round < ROUNDS; round++) {
    const results: RunResult[] = []
    for (const slice of slicers) results.push(await slice(sliceMs))
    results.forEach((r, i) => {
      out[i].total = add(out[i].total, r)
      out[i].ratios.push(rate(r) / rate(results[0]))
    })
    update({ done: round + 1 })
  }
  return out
}

/** The durable rows: raw put (baseline), raw get+put, kv get+set, and the create rows. */
async function durableRows(root: string, update: (u: ProgressUpdate) => void) {
  const raw = rawSlicer(join(root, 'raw'), false)
  const rawRmw = rawSlicer(join(root, 'rawrmw'), true)
  const kv = await kvSlicer(join(root, 'kv1'), KEYS, 1)
  const create1 = await createSlicer(join(root, 'create1'), 1)
  const create16 = await createSlicer(join(root, 'create16'), CREATE_CLIENTS)
  const create16Alone = await createSlicer(join(root, 'create16alone'), CREATE_CLIENTS, 1)
  const [rawM, rmwM, kvM, c1M, c16M, c16AloneM] = await alternate([raw.slice, rawRmw.slice, kv.slice, create1.slice, create16.slice, create16Alone.slice], DURATION_MS / ROUNDS, update)
  const meanBatch = c16M.total.ops / Math.max(1, create16.batches())
  await Promise.all([raw.close(), rawRmw.close(), kv.close(), create1.close(), create16.close(), create16Alone.close()])
  return { rawM, rmwM, kvM, c1M, c16M, c16AloneM, meanBatch }
}

/** The same raw put and kv get+set without fsync: CPU-bound, so it shows the layer's own cost. */
async function noSyncRows(root: string, update: (u: ProgressUpdate) => void) {
  const rawNs = rawSlicer(join(root, 'rawns'), false, true)
  const kvNs = await kvSlicer(join(root, 'kvns'), KEYS, 1, true)
  const [rawNsM, kvNsM] = await alternate([rawNs.slice, kvNs.slice], DURATION_MS / ROUNDS / 2, update)
  await Promise.all([rawNs.close(), kvNs.close()])
  return { rawNsM, kvNsM }
}

/** Two worker threads on HOT_KEYS counters; checks that no increment was lost. */
async function twoThreadRow(root: string) {
  const twoPath = join(root, 'kv2')
  const two = await Promise.all([inWorker(twoPath, 1), inWorker(twoPath, 2)])
  const twoOps = two.reduce((s, r) => s + r.ops, 0)
  const twoRetries = two.reduce((s, r) => s + r.retries, 0)
  const twoRate = two.reduce((s, r) => s + rate(r), 0)
  const counted = await sumCounters(twoPath)
  if (counted !== twoOps) throw new Error(`lost update: ${twoOps} increments committed but the counters sum to ${counted}`)
  return { twoOps, twoRetries, twoRate, counted }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 't3fs-bench-kv-'))
  try {
    const progress = new Progress({ label: 'bench:kv', steps: 3 })
    const rounds = { total: ROUNDS, unit: 'rounds' }
    const { rawM, rmwM, kvM, c1M, c16M, c16AloneM, meanBatch } = await progress.run('durable rows: raw put, raw get+put, kv txn, create x1, x16, x16 unbatched', (update) => durableRows(root, update), rounds)
    const { rawNsM, kvNsM } = await progress.run('no-fsync rows: raw put, kv txn', (update) => noSyncRows(root, update), rounds)
    const { twoOps, twoRetries, twoRate, counted } = await progress.run('two threads on 2 hot keys', () => twoThreadRow(root))
    const rawRate = rate(rawM.total)
    const rows: Array<[string, string, string]> = [
      ['raw lmdb put (1 putSync per transactionSync)', rawRate.toFixed(0), '1.00'],
      ['raw lmdb get+put (1 transactionSync)', rate(rmwM.total).toFixed(0), median(rmwM.ratios).toFixed(2)],
      [`kv txn get+set, 1 worker, ${KEYS} keys`, rate(kvM.total).toFixed(0), median(kvM.ratios).toFixed(2)],
      [`kv txn get+set, 2 threads, ${HOT_KEYS} hot keys`, twoRate.toFixed(0), (twoRate / rawRate).toFixed(2)],
      ['kv create (get missing + 2 sets), 1 client', rate(c1M.total).toFixed(0), median(c1M.ratios).toFixed(2)],
      [`kv create, ${CREATE_CLIENTS} clients, group commit (mean batch ${meanBatch.toFixed(1)})`, rate(c16M.total).toFixed(0), median(c16M.ratios).toFixed(2)],
      [`kv create, ${CREATE_CLIENTS} clients, no batching (maxTxns 1)`, rate(c16AloneM.total).toFixed(0), median(c16AloneM.ratios).toFixed(2)],
      ['(no fsync) raw lmdb put, noSync', rate(rawNsM.total).toFixed(0), '-'],
      ['(no fsync) kv txn get+set, noSync', rate(kvNsM.total).toFixed(0), `${median(kvNsM.ratios).toFixed(2)} of raw noSync`],
    ]
    console.log(`kv bench on lmdb: ${ROUNDS} alternating rounds of ${DURATION_MS / ROUNDS} ms per single-thread row, ${DURATION_MS} ms for the two-thread row; ${VALUE_BYTES}-byte values; durable commits (lmdb defaults) on every row`)
    console.log('compared: a kv transaction (snapshot get + set or create, conflict check, group commit) vs one putSync inside one lmdb transactionSync; "vs raw put" is the median of per-round ratios')
    console.log('| what | per s | vs raw put |')
    console.log('|---|---:|---:|')
    for (const [what, perS, ratio] of rows) console.log(`| ${what} | ${perS} | ${ratio} |`)
    const list = (m: Measured) => m.ratios.map((r) => r.toFixed(2)).join(' ')
    console.log(`per-round ratios to raw put: kv get+set ${list(kvM)}; create x1 ${list(c1M)}; create x${CREATE_CLIENTS} ${list(c16M)}`)
    console.log(`two-thread run: ${twoOps} commits, ${twoRetries} conflict retries (${(twoRetries / Math.max(1, twoOps)).toFixed(3)} per commit); counters sum to ${counted} (no lost update)`)
    const ratio = (m: Measured) => Number(median(m.ratios).toFixed(3))
    console.log(JSON.stringify({
      bench: 'kv',
      txn_per_s: Math.round(rate(kvM.total)),
      raw_put_per_s: Math.round(rawRate),
      txn_vs_raw: ratio(kvM),
      conflict_retry_rate: Number((twoRetries / Math.max(1, twoOps)).toFixed(4)),
      two_worker_txn_per_s: Math.round(twoRate),
      txn_vs_raw_nosync: ratio(kvNsM),
      create1_per_s: Math.round(rate(c1M.total)),
      create16_per_s: Math.round(rate(c16M.total)),
      txn1_vs_raw_put: ratio(c1M),
      txn16_vs_raw_put: ratio(c16M),
      txn16_nobatch_vs_raw_put: ratio(c16AloneM),
      create16_mean_batch: Number(meanBatch.toFixed(2)),
      compared: 'kv transactions (get+set; create = get missing + 2 sets, 1 or 16 clients, group commit) vs one putSync per lmdb transactionSync',
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
