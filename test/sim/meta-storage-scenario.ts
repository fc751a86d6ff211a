/**
 * One seeded run of the meta+storage simulation: two meta servers over real storage (three
 * storage nodes, chains of three, SimDisks), two clients that each create files with stripes of
 * one to three chains, write their chunks through the storage client, fsync and close with and
 * without length hints, truncate (shrinking and growing), reopen and remove them — under message
 * loss, duplication and reordering, crashes of the meta actors, unknown commit results of the meta
 * KV, storage nodes that die and come back one at a time, and in some seeds a meta node that dies.
 *
 * Each client keeps the model of its own files: the length storage must hold, from its
 * acknowledged writes and truncates (one client per file, one request at a time per client).
 * Checked:
 * 1. every exact answer (fsync/close without a hint, or with the model's own hint; truncate) gives
 *    the model's length — so meta's length is storage's;
 * 2. after every round, against the KV and then the SERVING replicas: a file whose inode GC
 *    cleared holds no chunk on any chain (GC removes chunks first, from every chain of the
 *    layout), and no chunk belongs to an inode meta does not have;
 * 3. at the end, with the faults healed and every file closed: GC cleared every removed file and
 *    storage holds none of its chunks; every live file's chunks, on every replica, give the
 *    model's length, and an exact fsync agrees.
 * A file whose write or truncate got no definite answer is left out of the length checks (what
 * storage holds of it is then not known to the client).
 */
import type { Mutant } from '../../actors/meta/op-context.ts'
import type { FileInode, Inode } from '../../actors/meta/protocol.ts'
import { isErrno } from '../../actors/meta/errors.ts'
import type { SeededRandom } from '../../runtime/random.ts'
import { checkStructure, dumpKv } from './meta-checker.ts'
import { buildMetaStorageCluster, CHUNK_SIZE_BYTES, lengthOfChunks, type FileClientish, type MetaStorageCluster } from './meta-storage-cluster.ts'

const CS = CHUNK_SIZE_BYTES
export const META_STORAGE_FAULTS = { dropRate: 0.01, duplicateRate: 0.01, minDelayMs: 0.2, maxDelayMs: 4, reorder: true, heartbeatTimeoutMs: 300, reconnectDelayMs: 5 }
/** Mean virtual time between crashes of a meta actor while the faults last (they stop for the final checks: a supervisor gives up after 50 restarts a minute). */
const META_CRASH_EVERY_MS = 400
/** The meta actor's supervision window and a crash count safely below its restart limit (50 in it). */
const SUPERVISION_WINDOW_MS = 60_000
const META_CRASHES_PER_WINDOW_MAX = 40
export const DEFAULT_ROUNDS = 30
/** Live files per client at most; chunks a write may start in. */
const MAX_FILES = 5
const MAX_CHUNK_INDEX = 6

interface FileModel {
  readonly client: number
  readonly path: string
  readonly inode: FileInode
  /** What storage holds of the file: the end of its acknowledged writes and truncates. */
  length: number
  truncateVer: number
  session: string | null
  removed: boolean
  /** Why the model may not know what storage holds (a write or truncate without a definite answer). */
  uncertain: string | null
}

export interface ScenarioStats {
  ops: number
  writes: number
  exactChecks: number
  truncates: number
  removed: number
  gcChecked: number
  metaCrashes: number
  storageCrashes: number
  metaNodeCrashes: number
  /** Files left out of the length checks (a write or truncate without a definite answer). */
  uncertain: number
  /** Virtual ms the run took. */
  virtualMs: number
}

interface Run {
  readonly m: MetaStorageCluster
  readonly files: FileModel[]
  readonly stats: ScenarioStats
  nextName: number
  nextSession: number
  /** Storage nodes keep failing while true (the workload's rounds). */
  faulty: boolean
}

const trace = process.env.T3FS_SIM_TRACE !== undefined
function note(run: Run, f: FileModel | null, what: string): void {
  if (trace) console.log(`${run.m.c.sim.clock.now().toFixed(1)} ${f === null ? '' : `inode ${f.inode.id} len ${f.length}`} ${what}`)
}

const lengthOf = (inode: Inode): number => (inode as FileInode).file.length
const verOf = (inode: Inode): number => (inode as FileInode).file.truncateVer

function mustMatch(run: Run, f: FileModel, answer: Inode, what: string): void {
  if (f.uncertain !== null) return
  run.stats.exactChecks++
  if (lengthOf(answer) !== f.length) {
    throw new Error(`at ${run.m.c.sim.clock.now().toFixed(1)} ms: ${what} of inode ${f.inode.id} (${f.path}, stripe ${f.inode.file.layout.stripeSize}) answered length ${lengthOf(answer)}; storage holds ${f.length} (its acknowledged writes and truncates)`)
  }
  f.truncateVer = verOf(answer)
}

/** A meta request whose refusal (errno) or loss is allowed: null then. */
async function tryMeta<T>(work: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; why: string }> {
  try {
    return { ok: true, value: await work }
  } catch (error) {
    return { ok: false, why: isErrno(error) ? `${error.code} (${error.message})` : `lost: ${(error as Error).message}` }
  }
}

/** One operation of client `i`, picked among what its files allow. */
async function step(run: Run, i: number, client: FileClientish, random: SeededRandom): Promise<void> {
  const mine = run.files.filter((f) => f.client === i && !(f.removed && f.session === null))
  const open = mine.filter((f) => f.session !== null)
  const closed = mine.filter((f) => f.session === null && !f.removed)
  const weights: [number, string][] = [[mine.length < MAX_FILES ? 3 : 0, 'create'], [open.length > 0 ? 8 : 0, 'write'], [mine.length > 0 ? 3 : 0, 'fsync'], [mine.length > 0 ? 2 : 0, 'truncate'], [open.length > 0 ? 3 : 0, 'close'], [closed.length > 0 ? 2 : 0, 'reopen'], [mine.some((f) => !f.removed) ? 2 : 0, 'remove']]
  let x = random.next() * weights.reduce((n, [w]) => n + w, 0)
  const kind = weights.find(([w]) => (x -= w) < 0)?.[1] ?? 'create'
  const pick = (list: FileModel[]) => list[random.int(list.length)]
  run.stats.ops++
  switch (kind) {
    case 'create': {
      const path = `/c${i}/f${run.nextName++}`
      const session = `s${run.nextSession++}`
      const stripeSize = 1 + random.int(3)
      const layout = { tableId: 1, tableVersion: 0, chunkSizeBytes: CS, stripeSize, chains: { kind: 'empty' as const } }
      const r = await tryMeta(client.meta.request({ type: 'create', path: { path }, flags: { access: 'write', excl: true }, perm: 0o644, session, layout }))
      if (r.ok) run.files.push({ client: i, path, inode: r.value.inode as FileInode, length: 0, truncateVer: 0, session, removed: false, uncertain: null })
      return
    }
    case 'write': {
      const f = pick(open)
      const offset = random.int(MAX_CHUNK_INDEX) * CS + random.int(CS)
      const length = 1 + random.int(24 * 1024)
      run.stats.writes++
      try {
        note(run, f, `write ${offset}+${length}`)
        await run.m.write(client, f.inode, offset, new Uint8Array(length).fill(1 + random.int(255)))
        f.length = Math.max(f.length, offset + length)
        note(run, f, `write ${offset}+${length} acked`)
      } catch (error) {
        f.uncertain ??= `a write at ${offset} got no answer: ${(error as Error).message}`
      }
      return
    }
    case 'fsync': {
      const f = pick(mine)
      const hinted = random.next() < 0.4 && f.uncertain === null
      const r = await tryMeta(client.meta.request({ type: 'sync', inode: f.inode.id, updateLength: true, ...(hinted ? { lengthHint: { length: f.length, truncateVer: f.truncateVer } } : {}) }))
      note(run, f, `fsync hinted=${hinted} answered ${r.ok ? lengthOf(r.value) : r.why}`)
      if (r.ok) mustMatch(run, f, r.value, hinted ? 'fsync with the length hint' : 'fsync without a hint')
      return
    }
    case 'truncate': {
      const f = pick(mine)
      const length = random.int(f.length + 2 * CS + 1)
      run.stats.truncates++
      note(run, f, `truncate ${length}`)
      const r = await tryMeta(client.meta.request({ type: 'truncate', inode: f.inode.id, length }))
      note(run, f, `truncate ${length} answered ${r.ok ? lengthOf(r.value) : r.why}`)
      if (!r.ok) {
        f.uncertain ??= `a truncate to ${length} answered ${r.why}`
        return
      }
      f.length = length
      mustMatch(run, f, r.value, `truncate to ${length}`)
      return
    }
    case 'close': {
      const f = pick(open)
      const how = random.next()
      const updateLength = how < 0.8
      const hinted = how < 0.4 && f.uncertain === null
      const r = await tryMeta(client.meta.request({ type: 'close', inode: f.inode.id, session: f.session as string, updateLength, ...(hinted ? { lengthHint: { length: f.length, truncateVer: f.truncateVer } } : {}) }))
      note(run, f, `close updateLength=${updateLength} hinted=${hinted} answered ${r.ok ? lengthOf(r.value) : r.why}`)
      if (!r.ok) return // EIO (storage too slow): the session stays; it is closed later
      f.session = null
      if (updateLength) mustMatch(run, f, r.value, hinted ? 'close with the length hint' : 'close without a hint')
      return
    }
    case 'reopen': {
      const f = pick(closed)
      const session = `s${run.nextSession++}`
      const r = await tryMeta(client.meta.request({ type: 'open', inode: f.inode.id, flags: { access: 'write' }, session }))
      if (r.ok) f.session = session
      return
    }
    case 'remove': {
      const f = pick(mine.filter((x) => !x.removed))
      const r = await tryMeta(client.meta.request({ type: 'remove', path: { path: f.path }, recursive: false }))
      note(run, f, `remove answered ${r.ok ? 'ok' : r.why}`)
      if (r.ok) {
        f.removed = true
        run.stats.removed++
      } else if (r.why.startsWith('lost')) f.uncertain ??= 'a remove got no answer'
      return
    }
  }
}

/** Invariant 2: the KV first, then the replicas (GC removes chunks before it clears the inode). */
async function checkGc(run: Run, final: boolean): Promise<void> {
  const d = await dumpKv(run.m.kv)
  const bad = checkStructure(d)
  if (bad !== null) throw new Error(`at ${run.m.c.sim.clock.now().toFixed(1)} ms: ${bad}`)
  const stored = await run.m.storedByInode()
  for (const f of run.files) {
    if (f.uncertain !== null) continue
    const chunks = stored.get(f.inode.id) ?? []
    if (!d.inodes.has(f.inode.id)) {
      if (!f.removed) throw new Error(`inode ${f.inode.id} (${f.path}) is gone from the KV but was never removed`)
      run.stats.gcChecked++
      if (chunks.length > 0) {
        const where = [...new Set(chunks.map((ch) => `chain ${ch.chainId}`))].join(', ')
        throw new Error(`at ${run.m.c.sim.clock.now().toFixed(1)} ms: GC cleared inode ${f.inode.id} (stripe ${f.inode.file.layout.stripeSize}) but storage still holds ${chunks.length} of its chunk replicas (${where}, chunks ${[...new Set(chunks.map((ch) => ch.index))].join(',')})`)
      }
    } else if (final && f.removed) {
      throw new Error(`GC left removed inode ${f.inode.id} (${f.path}) behind with its sessions closed`)
    }
  }
  const known = new Set(run.files.map((f) => f.inode.id))
  for (const inode of stored.keys()) {
    if (!known.has(inode)) throw new Error(`storage holds chunks of inode ${inode}, which no client created`)
  }
}

/** Invariant 3 for one live file: every replica holds the same chunks, which give the model's length. */
async function checkFinalLength(run: Run, f: FileModel): Promise<void> {
  if (f.uncertain !== null || f.removed) return
  const byIndex = new Map<number, number>()
  for (const [targetId, chunks] of await run.m.stored(f.inode.id)) {
    for (const ch of chunks) {
      const seen = byIndex.get(ch.index)
      if (ch.pending || (seen !== undefined && seen !== ch.lengthBytes)) throw new Error(`replicas differ on chunk ${ch.index} of inode ${f.inode.id} (target ${targetId}: ${ch.lengthBytes} bytes${ch.pending ? ', pending' : ''}; another: ${seen})`)
      byIndex.set(ch.index, ch.lengthBytes)
    }
  }
  const stored = lengthOfChunks([...byIndex].map(([index, lengthBytes]) => ({ index, lengthBytes })), f.inode.file.layout.chunkSizeBytes)
  if (stored !== f.length) throw new Error(`inode ${f.inode.id} (${f.path}): its chunks give length ${stored}, its acknowledged writes and truncates ${f.length}`)
}

/** Storage nodes die and come back one at a time, and meta actors crash, while `run.faulty`; in some seeds a meta node dies once. */
function scheduleFaults(run: Run, random: SeededRandom): void {
  const { c } = run.m
  const next = (): void => {
    if (!run.faulty) return
    const node = c.storage[random.int(c.storage.length)]
    c.sim.crashNode(node)
    run.stats.storageCrashes++
    // One storage node down at a time: every chain keeps two replicas.
    c.sim.at(c.sim.clock.now() + 200 + random.int(700), () => {
      if (!node.up) c.sim.restartNode(node)
      c.sim.at(c.sim.clock.now() + 400 + random.int(1_500), next)
    })
  }
  c.sim.at(c.sim.clock.now() + 200 + random.int(500), next)
  // Crashes of each meta actor in the last minute: a long faulty phase (seed 35) must not reach the
  // supervisor's limit, or the actor is stopped for good and the final checks find no server.
  const recent = run.m.metaRefs.map((): number[] => [])
  const crashMeta = (): void => {
    if (!run.faulty) return
    const now = c.sim.clock.now()
    for (const times of recent) while (times.length > 0 && times[0] <= now - SUPERVISION_WINDOW_MS) times.shift()
    const up = run.m.metaRefs.map((ref, i) => ({ ref, i })).filter(({ i }) => run.m.metaNodes[i].up && recent[i].length < META_CRASHES_PER_WINDOW_MAX)
    if (up.length > 0) {
      const { ref, i } = up[random.int(up.length)]
      c.sim.crash(ref as never)
      recent[i].push(now)
    }
    c.sim.at(c.sim.clock.now() - Math.log(1 - random.next()) * META_CRASH_EVERY_MS, crashMeta)
  }
  c.sim.at(c.sim.clock.now() + 100, crashMeta)
  if (random.next() < 0.3) {
    const victim = run.m.metaNodes[random.int(run.m.metaNodes.length)]
    const at = c.sim.clock.now() + 300 + random.int(4_000)
    c.sim.at(at, () => { if (!run.faulty) return; c.sim.crashNode(victim); run.stats.metaNodeCrashes++ })
    c.sim.at(at + 100 + random.int(400), () => { if (!victim.up) c.sim.restartNode(victim) })
  }
}

/** Virtual time GC gets, after the last close, to clear every removed file (its storage calls retry with backoff). */
const GC_SETTLE_MS = 15_000

/** Runs until the KV holds none of the removed, closed files' inodes (or until `untilMs`). */
async function gcSettled(run: Run, untilMs: number): Promise<void> {
  const waiting = run.files.filter((f) => f.removed && f.session === null && f.uncertain === null).map((f) => f.inode.id)
  while (run.m.c.sim.clock.now() < untilMs) {
    await run.m.c.runUntil(() => false, run.m.c.sim.clock.now() + 250)
    const { inodes } = await dumpKv(run.m.kv)
    if (waiting.every((id) => !inodes.has(id))) return
  }
}

export async function metaStorageScenario(seed: number, mutants: readonly Mutant[] = [], rounds = DEFAULT_ROUNDS): Promise<ScenarioStats> {
  const m = await buildMetaStorageCluster(seed, META_STORAGE_FAULTS, { metaServers: 2, clients: 2, mutants, commitUnknownResult: 0.02 })
  const run: Run = { m, files: [], stats: { ops: 0, writes: 0, exactChecks: 0, truncates: 0, removed: 0, gcChecked: 0, metaCrashes: 0, storageCrashes: 0, metaNodeCrashes: 0, uncertain: 0, virtualMs: 0 }, nextName: 0, nextSession: 0, faulty: true }
  const random = m.c.sim.forkRandom()
  await m.ready(6_000)
  await m.c.runUntil(() => false, m.c.sim.clock.now() + 300)
  const settle = <T>(p: Promise<T>, ms: number) => m.c.settle(p, m.c.sim.clock.now() + ms)
  await settle(Promise.all(m.clients.map((cl, i) => cl.meta.request({ type: 'mkdirs', path: { path: `/c${i}` }, perm: 0o755, recursive: true }))), 60_000)
  scheduleFaults(run, random)
  const randoms = m.clients.map(() => m.c.sim.forkRandom())
  for (let round = 0; round < rounds; round++) {
    await settle(Promise.all(m.clients.map((cl, i) => step(run, i, cl, randoms[i]))), 240_000).catch((error: unknown) => {
      throw new Error(`round ${round}: ${(error as Error).message}`)
    })
    await checkGc(run, false)
  }
  // Heal, close everything, let GC finish, then check what is left.
  run.faulty = false
  m.c.sim.healAll()
  for (const node of [...m.c.storage, ...m.metaNodes]) if (!node.up) m.c.sim.restartNode(node)
  await m.ready(m.c.sim.clock.now() + 20_000)
  for (const f of run.files.filter((x) => x.session !== null)) {
    const r = await settle(tryMeta(m.clients[f.client].meta.request({ type: 'close', inode: f.inode.id, session: f.session as string, updateLength: true })), 120_000)
    if (!r.ok) throw new Error(`closing inode ${f.inode.id} with every node up answered ${r.why}`)
    f.session = null
    mustMatch(run, f, r.value, 'the last close')
  }
  await gcSettled(run, m.c.sim.clock.now() + GC_SETTLE_MS)
  await checkGc(run, true)
  for (const f of run.files) {
    await checkFinalLength(run, f)
    if (f.removed || f.uncertain !== null) continue
    const r = await settle(tryMeta(m.clients[f.client].meta.request({ type: 'sync', inode: f.inode.id, updateLength: true })), 120_000)
    if (!r.ok) throw new Error(`fsync of inode ${f.inode.id} with every node up answered ${r.why}`)
    mustMatch(run, f, r.value, 'the last fsync')
  }
  run.stats.metaCrashes = m.c.sim.counters.crashes
  run.stats.uncertain = run.files.filter((f) => f.uncertain !== null).length
  if (process.env.T3FS_SIM_TRACE !== undefined) for (const f of run.files) if (f.uncertain !== null) console.log(`uncertain inode ${f.inode.id}: ${f.uncertain}`)
  run.stats.virtualMs = Math.round(m.c.sim.clock.now())
  return run.stats
}
