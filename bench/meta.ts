/**
 * `npm run bench:meta`: mdtest-style metadata rates through the meta servers, beside raw LMDB on
 * the same machine in the same run.
 *
 * - Two meta actors on worker host 1 over one LMDB KV (durable commits, lmdb defaults), clients on
 *   the main thread talking to them through the router (MetaClient, round robin). One worker
 *   thread, because this machine kind has two cores: a third busy thread only adds contention
 *   (BENCH_META_HOSTS=2 puts the servers on two worker hosts).
 * - For 1 and 16 concurrent clients, in one shared directory and in a directory per client:
 *   create N small files per client, stat each (paths three levels deep: /rK/dir/fJ), remove each.
 * - raw put: one durable putSync per LMDB write transaction (transactionSync), the cheapest
 *   durable single-key write lmdb offers without batching: the commit ceiling.
 * - raw get: one LMDB read transaction doing the gets a stat of such a path needs — three
 *   directory entries and one inode — on the same encoded records. (Meta reads the KV's version
 *   record in its snapshot and, when the walk to the directory was made at that version, only the
 *   last entry and the inode: actors/meta/walk-cache.ts; otherwise the root inode and every entry.)
 *   Each begins fresh (resetReadTxn), as meta's snapshots must to see other threads' commits;
 *   without it lmdb-js hands every "transaction" the same cached snapshot, which is not a read
 *   transaction but gets on one stale view. The loop yields to the event loop every millisecond
 *   (see rawGetsDb): the timers lmdb-js schedules per renewed transaction fire in the slice that
 *   made them, not in the phase after it.
 * Raw rates are taken in short slices right before and right after each create and stat phase
 * (the machine's load moves; a ratio compares the phase with its own neighbourhood), and
 * averaged. Beside the rates, the CPU of the whole process (every thread) per stat and per raw read
 * transaction: stat_vs_raw_get_cpu compares the work, which the machine's load moves less than the
 * rates. Ends with one JSON line:
 * create/stat/remove_ops_per_s (16 clients, shared directory), create16_vs_raw_put,
 * stat_vs_raw_get, stat_vs_raw_get_cpu, and the private-directory and 1-client figures. Progress
 * (which run, which phase of it) goes to stderr.
 */
import { open } from 'lmdb'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeDirEntry } from '../actors/meta/dir-entry.ts'
import { encodeInode, type FileInode } from '../actors/meta/inode.ts'
import { dentryKey, inodeKey } from '../actors/meta/keys.ts'
import { MetaClient } from '../actors/meta/meta-client.ts'
import type { MetaMsg, MetaStatus } from '../actors/meta/protocol.ts'
import type { ActorRef } from '../runtime/actor.ts'
import { systemClock } from '../runtime/clock.ts'
import { NodeRuntime } from '../runtime/node-runtime.ts'
import { systemRandom } from '../runtime/random.ts'
import { Progress, type ProgressUpdate } from '../runtime/progress/progress.ts'

const FILES_PER_CLIENT_16 = Number(process.env.BENCH_META_FILES ?? 150)
const FILES_ONE_CLIENT = Number(process.env.BENCH_META_FILES_1 ?? 600)
const RAW_MS = Number(process.env.BENCH_META_RAW_MS ?? 500)
const HOSTS = Number(process.env.BENCH_META_HOSTS ?? 1)
/** Passes of the stat phase over the files: one pass of 16 × 150 stats lasts ~50 ms, too short to
 * give a steady rate beside the raw slices of RAW_MS; each pass stats every file once more. */
const STAT_PASSES = Number(process.env.BENCH_META_STAT_PASSES ?? 10)
const ROOT_USER = { uid: 0, gid: 0 }
const LAYOUT = { tableId: 1, tableVersion: 1, chunkSizeBytes: 1 << 20, stripeSize: 1, chains: { kind: 'list', chainIndexes: [1] } }

type Phase = 'create' | 'stat' | 'remove'
interface Row {
  clients: number
  dirs: 'shared' | 'private'
  phase: Phase
  ops: number
  seconds: number
  /** CPU of the whole process (every thread) per operation, µs. */
  cpuUs: number
  /** The raw rate measured around this phase (puts around creates, read transactions around stats). */
  raw: number | null
  /** CPU per raw read transaction around a stat phase, µs (null for the other phases). */
  rawCpuUs: number | null
}

interface Raw {
  put(ms: number): number
  /** Read transactions per second, and the process's CPU µs per transaction. */
  get(ms: number): Promise<{ rate: number; cpuUs: number }>
  close(): void
}

const rate = (r: { ops: number; seconds: number }): number => r.ops / r.seconds

const cpuUsSince = (start: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(start)
  return used.user + used.system
}

/** hrtime in µs: the clock of --cpu-prof's timestamps, so a profile can be cut to a phase. */
const hrtimeUs = (): string => (process.hrtime.bigint() / 1000n).toString()

async function timed(ops: number, work: () => Promise<unknown>, name: string): Promise<{ ops: number; seconds: number; cpuUs: number }> {
  const startUs = hrtimeUs()
  const start = performance.now()
  const cpu = process.cpuUsage()
  await work()
  const result = { ops, seconds: (performance.now() - start) / 1000, cpuUs: cpuUsSince(cpu) / ops }
  process.stderr.write(`bench:meta: ${name} ran from hrtime ${startUs} to ${hrtimeUs()} µs\n`)
  return result
}

/** One mdtest round: every client creates, then stats, then removes its files. */
async function mdtest(clients: MetaClient[], run: number, dirs: 'shared' | 'private', files: number, raw: Raw, update: (u: ProgressUpdate) => void): Promise<Row[]> {
  const dirOf = (i: number) => (dirs === 'shared' ? `/r${run}/shared` : `/r${run}/p${i}`)
  await clients[0].request({ type: 'mkdirs', path: { path: `/r${run}` }, perm: 0o777, recursive: true })
  await Promise.all(clients.map((c, i) => (dirs === 'private' || i === 0 ? c.request({ type: 'mkdirs', path: { path: dirOf(i) }, perm: 0o777, recursive: true }) : null)))
  const each = (op: (c: MetaClient, i: number, j: number) => Promise<unknown>) => Promise.all(clients.map(async (c, i) => { for (let j = 0; j < files; j++) await op(c, i, j) }))
  const path = (i: number, j: number) => ({ path: `${dirOf(i)}/c${i}-f${j}` })
  const total = clients.length * files
  const rows: Row[] = []
  update({ done: 0, detail: 'create (raw puts around it)' })
  let before = raw.put(RAW_MS)
  const where = `${clients.length} client${clients.length > 1 ? 's' : ''} ${dirs}`
  const create = await timed(total, () => each((c, i, j) => c.request({ type: 'create', path: path(i, j), flags: { access: 'write', excl: true }, perm: 0o644 })), `${where} create`)
  rows.push({ clients: clients.length, dirs, phase: 'create', ...create, raw: (before + raw.put(RAW_MS)) / 2, rawCpuUs: null })
  update({ done: 1, detail: 'stat (raw read transactions around it)' })
  const getsBefore = await raw.get(RAW_MS)
  const stat = await timed(total * STAT_PASSES, async () => { for (let pass = 0; pass < STAT_PASSES; pass++) await each((c, i, j) => c.request({ type: 'stat', path: path(i, j) })) }, `${where} stat`)
  const getsAfter = await raw.get(RAW_MS)
  rows.push({ clients: clients.length, dirs, phase: 'stat', ...stat, raw: (getsBefore.rate + getsAfter.rate) / 2, rawCpuUs: (getsBefore.cpuUs + getsAfter.cpuUs) / 2 })
  update({ done: 2, detail: 'remove' })
  const remove = await timed(total, () => each((c, i, j) => c.request({ type: 'remove', path: path(i, j), recursive: false })), `${where} remove`)
  rows.push({ clients: clients.length, dirs, phase: 'remove', ...remove, raw: null, rawCpuUs: null })
  update({ done: 3, detail: `create ${rate(create).toFixed(0)}/s, stat ${rate(stat).toFixed(0)}/s, remove ${rate(remove).toFixed(0)}/s` })
  return rows
}

/** Raw LMDB in two environments of its own: durable puts, and stat-shaped read transactions. */
function rawLmdb(root: string): Raw {
  const puts = open<Buffer, Buffer>({ path: join(root, 'raw-put'), keyEncoding: 'binary', encoding: 'binary' })
  const gets = rawGetsDb(join(root, 'raw-get'))
  const value = Buffer.alloc(100, 0x20)
  let n = 0
  return {
    /** One durable putSync per LMDB write transaction, for `ms`. */
    put(ms) {
      let ops = 0
      const start = performance.now()
      while (performance.now() - start < ms) {
        const key = dentryKey(1 + (n % 1000), `f${n++}`)
        puts.transactionSync(() => puts.putSync(key, value))
        ops++
      }
      return ops / ((performance.now() - start) / 1000)
    },
    get: (ms) => gets(ms),
    close() {
      void puts.close()
    },
  }
}

/** Read transactions of three entry gets and one inode get, on records encoded as meta stores them. */
/**
 * The loop yields to the event loop every millisecond, as a server's does between requests: lmdb-js
 * schedules a timer with each read transaction it renews, and a loop that never yields keeps every
 * one of them (and what they hold) alive until it ends — promoted, then collected during whatever
 * runs next (the stat phase). Yielding lets them fire and die young, and is no slower.
 */
function rawGetsDb(path: string): (ms: number) => Promise<{ rate: number; cpuUs: number }> {
  const db = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
  const acl = { uid: 0, gid: 0, perm: 0o777, iflags: 0 }
  const PATHS = 2000
  db.transactionSync(() => {
    db.putSync(dentryKey(0, 'r0'), encodeDirEntry({ parent: 0, name: 'r0', id: 10, type: 'directory', dirAcl: acl, uuid: 'x', gcInfo: null }))
    db.putSync(dentryKey(10, 'shared'), encodeDirEntry({ parent: 10, name: 'shared', id: 11, type: 'directory', dirAcl: acl, uuid: 'x', gcInfo: null }))
    for (let j = 0; j < PATHS; j++) {
      const id = 100 + j
      db.putSync(dentryKey(11, `f${j}`), encodeDirEntry({ parent: 11, name: `f${j}`, id, type: 'file', dirAcl: null, uuid: 'request-id-12345', gcInfo: null }))
      const inode: FileInode = { id, type: 'file', acl, nlink: 1, atimeMs: 1, ctimeMs: 1, mtimeMs: 1, file: { length: 0, truncateVer: 0, layout: LAYOUT as FileInode['file']['layout'], dynStripe: 0 } }
      db.putSync(inodeKey(id), encodeInode(inode))
    }
  })
  const getAt = db.getBinary.bind(db) as unknown as (key: Buffer, options: { transaction: unknown }) => Buffer | undefined
  return async (ms) => {
    let n = 0
    let sink = 0
    const start = performance.now()
    const cpu = process.cpuUsage()
    let yieldAtMs = start + 1
    while (performance.now() - start < ms) {
      if (performance.now() >= yieldAtMs) {
        await new Promise((resolve) => setImmediate(resolve))
        yieldAtMs = performance.now() + 1
      }
      // A read transaction of its own, begun fresh (as meta's snapshots are, to see what other
      // threads and processes committed): lmdb-js would otherwise hand out one cached snapshot.
      db.resetReadTxn()
      const transaction = db.useReadTransaction() as unknown as { done(): void }
      const j = n % PATHS
      const keys = [dentryKey(0, 'r0'), dentryKey(10, 'shared'), dentryKey(11, `f${j}`), inodeKey(100 + j)]
      for (const k of keys) sink += getAt(k, { transaction })?.length ?? 0
      transaction.done()
      n++
    }
    if (sink === 0) throw new Error('raw gets read nothing')
    return { rate: n / ((performance.now() - start) / 1000), cpuUs: cpuUsSince(cpu) / n }
  }
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 't3fs-bench-meta-'))
  const progress = new Progress({ label: 'bench:meta', steps: 6 })
  const runtime = await NodeRuntime.start({ hostsPerDomain: HOSTS, domains: [{ id: 0, cpus: [0, 1] }] })
  try {
    const module = new URL('../actors/meta/meta-actor.ts', import.meta.url).href
    const config = { root_layout: LAYOUT, gc_scan_interval: '1h', session_scan_interval: '1h' }
    const servers: ActorRef<MetaMsg>[] = []
    const raw = await progress.run('start 2 meta servers; raw LMDB warm-up', async () => {
      for (const serverId of [1, 2]) servers.push(await runtime.spawn<MetaMsg>({ module, export: 'metaActor' }, { serverId, nodeKv: { backend: 'lmdb', path: join(root, 'kv') }, config }, { host: 1 + ((serverId - 1) % HOSTS) }))
      for (let i = 0; i < 200 && (await Promise.all(servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>))).some((s) => s.members.length < 2); i++) await new Promise((r) => setTimeout(r, 10))
      const raw = rawLmdb(root)
      raw.put(RAW_MS)
      await raw.get(RAW_MS)
      return raw
    })
    const clientsOf = (n: number) => Array.from({ length: n }, (_, i) => new MetaClient({ servers, clientId: `bench-${n}-${i}`, user: ROOT_USER, clock: systemClock, random: systemRandom, timeoutMs: 30_000 }))
    const phases = { total: 3, unit: 'phases' }
    // Warm-up: code paths, LMDB pages, id ranges. A round as large as the measured one: the first
    // 16-client stat phase of a process spends as much CPU compiling (V8's helper threads) as
    // answering, which says nothing about the steady rate.
    await progress.run(`warm-up: 16 clients × ${FILES_PER_CLIENT_16} files`, (update) => mdtest(clientsOf(16), 0, 'shared', FILES_PER_CLIENT_16, raw, update), phases)
    const rows: Row[] = []
    let run = 1
    for (const [n, files] of [[1, FILES_ONE_CLIENT], [16, FILES_PER_CLIENT_16]] as const) {
      for (const dirs of ['shared', 'private'] as const) {
        const name = `${n} client${n > 1 ? 's' : ''} × ${files} files, ${dirs} director${dirs === 'shared' ? 'y' : 'ies'}`
        rows.push(...(await progress.run(name, (update) => mdtest(clientsOf(n), run++, dirs, files, raw, update), phases)))
      }
    }
    raw.close()
    const status = await Promise.all(servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>))
    report(rows, status)
  } finally {
    await runtime.shutdown()
    rmSync(root, { recursive: true, force: true })
  }
}

function report(rows: Row[], status: MetaStatus[]): void {
  const find = (clients: number, dirs: string, phase: Phase) => rows.find((r) => r.clients === clients && r.dirs === dirs && r.phase === phase) as Row
  console.log(`meta bench: 2 meta servers (on ${HOSTS} worker host${HOSTS > 1 ? 's' : ''}) over one durable LMDB KV; clients on the main thread through the router; ${FILES_ONE_CLIENT} files for 1 client, ${FILES_PER_CLIENT_16} per client for 16`)
  console.log('| clients | directory | create/s | (raw puts/s around it) | stat/s | (raw read txns/s around it) | remove/s |')
  console.log('|---|---|---|---|---|---|---|')
  for (const n of [1, 16]) {
    for (const d of ['shared', 'private']) {
      const c = find(n, d, 'create')
      const st = find(n, d, 'stat')
      console.log(`| ${n} | ${d} | ${rate(c).toFixed(0)} | ${(c.raw as number).toFixed(0)} | ${rate(st).toFixed(0)} | ${(st.raw as number).toFixed(0)} | ${rate(find(n, d, 'remove')).toFixed(0)} |`)
    }
  }
  console.log('raw lmdb: durable puts, one per write transaction; read transactions of 3 entry + 1 inode gets (a stat of a path three levels deep)')
  const stat16 = find(16, 'shared', 'stat')
  console.log(`CPU (every thread of the process): ${stat16.cpuUs.toFixed(1)} us per stat (16 clients, shared), ${(stat16.rawCpuUs as number).toFixed(1)} us per raw read transaction around it`)
  const batches = status.reduce((n, s) => n + s.batches, 0)
  const batched = status.reduce((n, s) => n + s.batchedOps, 0)
  console.log(`owner batching: ${batched} requests in ${batches} batch transactions (${(batched / Math.max(1, batches)).toFixed(1)} per transaction); ${status.reduce((n, s) => n + s.forwarded, 0)} forwarded`)
  const shared16 = (p: Phase) => rate(find(16, 'shared', p))
  const ratio = (row: Row) => Number((rate(row) / (row.raw as number)).toFixed(3))
  const raw = { put: find(16, 'shared', 'create').raw as number, get: find(16, 'shared', 'stat').raw as number }
  const json = {
    bench: 'meta',
    create_ops_per_s: Math.round(shared16('create')),
    stat_ops_per_s: Math.round(shared16('stat')),
    remove_ops_per_s: Math.round(shared16('remove')),
    create16_vs_raw_put: ratio(find(16, 'shared', 'create')),
    stat_vs_raw_get: ratio(find(16, 'shared', 'stat')),
    stat_vs_raw_get_cpu: Number(((stat16.rawCpuUs as number) / stat16.cpuUs).toFixed(3)),
    stat_cpu_us_per_op: Number(stat16.cpuUs.toFixed(1)),
    raw_get_cpu_us_per_txn: Number((stat16.rawCpuUs as number).toFixed(1)),
    create_cpu_us_per_op: Number(find(16, 'shared', 'create').cpuUs.toFixed(1)),
    create16_private_vs_raw_put: ratio(find(16, 'private', 'create')),
    create1_vs_raw_put: ratio(find(1, 'shared', 'create')),
    create_private_ops_per_s: Math.round(rate(find(16, 'private', 'create'))),
    stat_private_ops_per_s: Math.round(rate(find(16, 'private', 'stat'))),
    remove_private_ops_per_s: Math.round(rate(find(16, 'private', 'remove'))),
    create1_ops_per_s: Math.round(rate(find(1, 'shared', 'create'))),
    stat1_ops_per_s: Math.round(rate(find(1, 'shared', 'stat'))),
    raw_put_per_s: Math.round(raw.put),
    raw_get_txn_per_s: Math.round(raw.get),
    ops_per_batch: Number((batched / Math.max(1, batches)).toFixed(1)),
  }
  console.log(JSON.stringify(json))
}

await main()
