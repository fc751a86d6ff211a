/**
 * `npm run bench:meta`: mdtest-style metadata rates through the meta servers, beside raw LMDB on
 * the same machine in the same run.
 *
 * - Two meta actors on worker hosts 1 and 2 over one LMDB KV (durable commits, lmdb defaults),
 *   clients on the main thread talking to them through the router (MetaClient, round robin).
 * - For 1 and 16 concurrent clients, in one shared directory and in a directory per client:
 *   create N small files per client, stat each (paths three levels deep: /rK/dir/fJ), remove each.
 * - raw put: one durable putSync per LMDB write transaction (transactionSync), the cheapest
 *   durable single-key write lmdb offers without batching: the commit ceiling.
 * - raw get: one LMDB read transaction doing the gets a stat of such a path needs — three
 *   directory entries and one inode — on the same encoded records (meta also reads the root inode).
 * Raw rates are taken before and after the meta phases and averaged. Ends with one JSON line:
 * create/stat/remove_ops_per_s (16 clients, shared directory), create16_vs_raw_put,
 * stat_vs_raw_get, and the private-directory and 1-client figures.
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

const FILES_PER_CLIENT_16 = Number(process.env.BENCH_META_FILES ?? 150)
const FILES_ONE_CLIENT = Number(process.env.BENCH_META_FILES_1 ?? 600)
const RAW_MS = Number(process.env.BENCH_META_RAW_MS ?? 1500)
const ROOT_USER = { uid: 0, gid: 0 }
const LAYOUT = { tableId: 1, tableVersion: 1, chunkSizeBytes: 1 << 20, stripeSize: 1, chains: { kind: 'list', chainIndexes: [1] } }

type Phase = 'create' | 'stat' | 'remove'
interface Row {
  clients: number
  dirs: 'shared' | 'private'
  phase: Phase
  ops: number
  seconds: number
}

const rate = (r: { ops: number; seconds: number }): number => r.ops / r.seconds

async function timed(ops: number, work: () => Promise<unknown>): Promise<{ ops: number; seconds: number }> {
  const start = performance.now()
  await work()
  return { ops, seconds: (performance.now() - start) / 1000 }
}

/** One mdtest round: every client creates, then stats, then removes its files. */
async function mdtest(clients: MetaClient[], run: number, dirs: 'shared' | 'private', files: number): Promise<Row[]> {
  const dirOf = (i: number) => (dirs === 'shared' ? `/r${run}/shared` : `/r${run}/p${i}`)
  await clients[0].request({ type: 'mkdirs', path: { path: `/r${run}` }, perm: 0o777, recursive: true })
  await Promise.all(clients.map((c, i) => (dirs === 'private' || i === 0 ? c.request({ type: 'mkdirs', path: { path: dirOf(i) }, perm: 0o777, recursive: true }) : null)))
  const each = (op: (c: MetaClient, i: number, j: number) => Promise<unknown>) => Promise.all(clients.map(async (c, i) => { for (let j = 0; j < files; j++) await op(c, i, j) }))
  const path = (i: number, j: number) => ({ path: `${dirOf(i)}/c${i}-f${j}` })
  const total = clients.length * files
  const rows: Row[] = []
  const create = await timed(total, () => each((c, i, j) => c.request({ type: 'create', path: path(i, j), flags: { access: 'write', excl: true }, perm: 0o644 })))
  rows.push({ clients: clients.length, dirs, phase: 'create', ...create })
  const stat = await timed(total, () => each((c, i, j) => c.request({ type: 'stat', path: path(i, j) })))
  rows.push({ clients: clients.length, dirs, phase: 'stat', ...stat })
  const remove = await timed(total, () => each((c, i, j) => c.request({ type: 'remove', path: path(i, j), recursive: false })))
  rows.push({ clients: clients.length, dirs, phase: 'remove', ...remove })
  return rows
}

/** Durable raw puts, one per LMDB write transaction. */
function rawPuts(path: string, ms: number): number {
  const db = open<Buffer, Buffer>({ path, keyEncoding: 'binary', encoding: 'binary' })
  const value = Buffer.alloc(100, 0x20)
  let n = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    const key = dentryKey(1 + (n % 1000), `f${n}`)
    db.transactionSync(() => db.putSync(key, value))
    n++
  }
  const seconds = (performance.now() - start) / 1000
  void db.close()
  return n / seconds
}

/** Read transactions of three entry gets and one inode get, on records encoded as meta stores them. */
function rawGets(path: string, ms: number): number {
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
  let n = 0
  let sink = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    const transaction = db.useReadTransaction() as unknown as { done(): void }
    const j = n % PATHS
    const keys = [dentryKey(0, 'r0'), dentryKey(10, 'shared'), dentryKey(11, `f${j}`), inodeKey(100 + j)]
    for (const k of keys) sink += getAt(k, { transaction })?.length ?? 0
    transaction.done()
    n++
  }
  const seconds = (performance.now() - start) / 1000
  void db.close()
  if (sink === 0) throw new Error('raw gets read nothing')
  return n / seconds
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 't3fs-bench-meta-'))
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  try {
    const module = new URL('../actors/meta/meta-actor.ts', import.meta.url).href
    const config = { root_layout: LAYOUT, gc_scan_interval: '1h', session_scan_interval: '1h' }
    const servers: ActorRef<MetaMsg>[] = []
    for (const host of [1, 2]) servers.push(await runtime.spawn<MetaMsg>({ module, export: 'metaActor' }, { serverId: host, nodeKv: { backend: 'lmdb', path: join(root, 'kv') }, config }, { host }))
    for (let i = 0; i < 200 && (await Promise.all(servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>))).some((s) => s.members.length < 2); i++) await new Promise((r) => setTimeout(r, 10))
    const rawBefore = { put: rawPuts(join(root, 'raw-put-1'), RAW_MS), get: rawGets(join(root, 'raw-get-1'), RAW_MS) }
    const clientsOf = (n: number) => Array.from({ length: n }, (_, i) => new MetaClient({ servers, clientId: `bench-${n}-${i}`, user: ROOT_USER, clock: systemClock, random: systemRandom, timeoutMs: 30_000 }))
    await mdtest(clientsOf(4), 0, 'shared', 50) // warm-up: code paths, LMDB pages, id ranges
    const rows: Row[] = []
    let run = 1
    for (const [n, files] of [[1, FILES_ONE_CLIENT], [16, FILES_PER_CLIENT_16]] as const) {
      for (const dirs of ['shared', 'private'] as const) rows.push(...(await mdtest(clientsOf(n), run++, dirs, files)))
    }
    const rawAfter = { put: rawPuts(join(root, 'raw-put-2'), RAW_MS), get: rawGets(join(root, 'raw-get-2'), RAW_MS) }
    const raw = { put: (rawBefore.put + rawAfter.put) / 2, get: (rawBefore.get + rawAfter.get) / 2 }
    const status = await Promise.all(servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>))
    report(rows, raw, status)
  } finally {
    await runtime.shutdown()
    rmSync(root, { recursive: true, force: true })
  }
}

function report(rows: Row[], raw: { put: number; get: number }, status: MetaStatus[]): void {
  const find = (clients: number, dirs: string, phase: Phase) => rows.find((r) => r.clients === clients && r.dirs === dirs && r.phase === phase) as Row
  console.log(`meta bench: 2 meta servers (worker hosts 1, 2) over one durable LMDB KV; clients on the main thread through the router; ${FILES_ONE_CLIENT} files for 1 client, ${FILES_PER_CLIENT_16} per client for 16`)
  console.log('| clients | directory | create/s | stat/s | remove/s |')
  console.log('|---|---|---|---|---|')
  for (const n of [1, 16]) for (const d of ['shared', 'private']) console.log(`| ${n} | ${d} | ${rate(find(n, d, 'create')).toFixed(0)} | ${rate(find(n, d, 'stat')).toFixed(0)} | ${rate(find(n, d, 'remove')).toFixed(0)} |`)
  console.log(`raw lmdb: ${raw.put.toFixed(0)} durable puts/s (one per write transaction); ${raw.get.toFixed(0)} read transactions/s of 3 entry + 1 inode gets`)
  const batches = status.reduce((n, s) => n + s.batches, 0)
  const batched = status.reduce((n, s) => n + s.batchedOps, 0)
  console.log(`owner batching: ${batched} requests in ${batches} batch transactions (${(batched / Math.max(1, batches)).toFixed(1)} per transaction); ${status.reduce((n, s) => n + s.forwarded, 0)} forwarded`)
  const shared16 = (p: Phase) => rate(find(16, 'shared', p))
  const json = {
    bench: 'meta',
    create_ops_per_s: Math.round(shared16('create')),
    stat_ops_per_s: Math.round(shared16('stat')),
    remove_ops_per_s: Math.round(shared16('remove')),
    create16_vs_raw_put: Number((shared16('create') / raw.put).toFixed(3)),
    stat_vs_raw_get: Number((shared16('stat') / raw.get).toFixed(3)),
    create16_private_vs_raw_put: Number((rate(find(16, 'private', 'create')) / raw.put).toFixed(3)),
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
