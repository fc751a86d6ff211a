/**
 * The invariants of the meta simulation, checked against one snapshot of the KV after every step:
 * 1. the namespace is a tree rooted at "/": every entry names an existing inode of its type, every
 *    directory is reached once (no cycle, no second entry), every inode is reached from "/" or
 *    from the GC tree (no orphan outside GC), a directory's inode names its entry;
 * 2. every inode's nlink equals its entries outside the GC directories (a removed one: 0, filed
 *    under exactly one GC entry); every write session is on an existing file;
 * 3. every acknowledged mutating request was applied exactly once: its idempotency record exists
 *    and holds the answer the client got (a retry got the first answer), and replaying the
 *    applied requests in the KV's serial order through the reference model gives the recorded
 *    answers;
 * 4. every other answer (reads, refusals) agrees with the model at the point it was decided, and
 *    stat of every path agrees with the model's namespace.
 */
import { compareBytes } from '../../actors/kv/index.ts'
import { decodeDirEntry, type DirEntry } from '../../actors/meta/dir-entry.ts'
import { decodeIdem, type StoredIdem } from '../../actors/meta/idempotency.ts'
import { decodeInode, GC_ROOT_INODE, ROOT_INODE, type Inode } from '../../actors/meta/inode.ts'
import { allDentries, allIdem, allInodes, allSessions, inodeOfKey, parseDentryKey, parseIdemKey, parseSessionKey } from '../../actors/meta/keys.ts'
import type { MetaAnswerEvent } from '../../actors/meta/probe.ts'
import type { Kv } from '../../actors/kv/index.ts'
import { Model, type MNode, type Outcome } from './meta-model.ts'
import type { Issued } from './meta-workload.ts'

interface Dump {
  readonly version: bigint
  readonly inodes: Map<number, Inode>
  readonly entries: DirEntry[]
  readonly sessions: { inode: number; sessionId: string }[]
  readonly idem: Map<string, StoredIdem>
}

export async function dumpKv(kv: Kv): Promise<Dump> {
  return kv.transact(async (tx) => {
    const s = tx.snapshot
    const [inodes, entries, sessions, idem] = await Promise.all([
      s.getRange(allInodes.begin, allInodes.end), s.getRange(allDentries.begin, allDentries.end), s.getRange(allSessions.begin, allSessions.end), s.getRange(allIdem.begin, allIdem.end),
    ])
    return {
      version: await tx.getReadVersion(),
      inodes: new Map(inodes.map((kv) => [inodeOfKey(kv.key), decodeInode(inodeOfKey(kv.key), kv.value)])),
      entries: entries.map((kv) => {
        const { parent, name } = parseDentryKey(kv.key)
        return decodeDirEntry(parent, name, kv.value)
      }),
      sessions: sessions.map((kv) => parseSessionKey(kv.key)),
      idem: new Map(idem.map((kv) => {
        const { clientId, requestId } = parseIdemKey(kv.key)
        return [`${clientId}/${requestId}`, decodeIdem(kv.value)]
      })),
    }
  })
}

const canonical = (v: unknown): string => JSON.stringify(v, (_k, x) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1))) : x))

/** Invariants 1 and 2. */
export function checkStructure(d: Dump): string | null {
  const root = d.inodes.get(ROOT_INODE)
  if (root?.type !== 'directory' || d.inodes.get(GC_ROOT_INODE)?.type !== 'directory') return 'the root or the GC root is missing'
  const gcDirs = new Set(d.entries.filter((e) => e.parent === GC_ROOT_INODE && e.name.startsWith('GC-Node-')).map((e) => e.id))
  const children = new Map<number, DirEntry[]>()
  const live = new Map<number, number>()
  const inGc = new Map<number, number>()
  for (const e of d.entries) {
    const inode = d.inodes.get(e.id)
    if (inode === undefined) return `entry ${e.parent}/${e.name} names inode ${e.id}, which does not exist`
    if (inode.type !== e.type) return `entry ${e.parent}/${e.name} says ${e.type}, inode ${e.id} is a ${inode.type}`
    if (inode.type === 'directory' && (inode.dir.parent !== e.parent || inode.dir.name !== e.name)) return `directory ${e.id} records ${inode.dir.parent}/${inode.dir.name} but its entry is ${e.parent}/${e.name}`
    if (inode.type === 'directory' && canonical(inode.acl) !== canonical(e.dirAcl)) return `the entry of directory ${e.id} carries an ACL different from its inode`
    children.set(e.parent, [...(children.get(e.parent) ?? []), e])
    const counts = gcDirs.has(e.parent) ? inGc : live
    counts.set(e.id, (counts.get(e.id) ?? 0) + 1)
  }
  const seen = new Set<number>([ROOT_INODE, GC_ROOT_INODE])
  const walk = (dir: number): string | null => {
    for (const e of children.get(dir) ?? []) {
      if (e.type !== 'directory') {
        seen.add(e.id)
        continue
      }
      if (seen.has(e.id)) return `directory ${e.id} is reached twice (a cycle or a second entry), the second time as ${e.parent}/${e.name}`
      seen.add(e.id)
      const bad = walk(e.id)
      if (bad !== null) return bad
    }
    return null
  }
  const bad = walk(ROOT_INODE) ?? walk(GC_ROOT_INODE)
  if (bad !== null) return bad
  for (const [id, inode] of d.inodes) {
    if (!seen.has(id)) return `inode ${id} (${inode.type}) is an orphan: reached neither from / nor from the GC tree`
    if (id === ROOT_INODE || id === GC_ROOT_INODE) continue
    const links = live.get(id) ?? 0
    const gc = inGc.get(id) ?? 0
    if (inode.type === 'directory' ? inode.nlink !== (links > 0 ? 1 : 0) : inode.nlink !== links) return `inode ${id} (${inode.type}) has nlink ${inode.nlink} but ${links} entries outside GC`
    if (inode.nlink === 0 && (gc !== 1 || links !== 0)) return `removed inode ${id} is under ${gc} GC entries and ${links} live ones (expected 1 and 0)`
    if (inode.nlink > 0 && gc !== 0) return `inode ${id} with nlink ${inode.nlink} is also filed for GC`
  }
  for (const s of d.sessions) {
    const inode = d.inodes.get(s.inode)
    if (inode?.type !== 'file') return `session ${s.sessionId} is on inode ${s.inode}, which is ${inode === undefined ? 'gone (GC removed an open file)' : `a ${inode.type}`}`
  }
  return null
}

const MUTATING = new Set(['create', 'mkdir', 'symlink', 'hard-link', 'remove', 'rename', 'chmod', 'close'])

type Event =
  | { readonly key: bigint[]; readonly kind: 'applied'; readonly issued: Issued; readonly record: StoredIdem }
  | { readonly key: bigint[]; readonly kind: 'answer'; readonly issued: Issued; readonly answer: MetaAnswerEvent }

const stampKey = (stamp: Buffer, tail: number, sub: number): bigint[] => [stamp.readBigUInt64BE(0), BigInt(stamp.readUInt16BE(8)), BigInt(tail), BigInt(sub)]

function inodeMismatch(what: string, model: MNode | { type: string; perm: number; nlink: number; length?: number; target?: string | null; id?: number }, actual: Inode, zombies: number, checkId: boolean): string | null {
  if (checkId && 'id' in model && model.id !== undefined && model.id !== actual.id) return `${what}: inode ${actual.id}, the model says ${model.id}`
  if (model.type !== actual.type) return `${what}: a ${actual.type}, the model says a ${model.type}`
  if (model.perm !== actual.acl.perm) return `${what}: mode ${actual.acl.perm.toString(8)}, the model says ${model.perm.toString(8)}`
  if (actual.nlink < model.nlink || actual.nlink > model.nlink + zombies) return `${what}: nlink ${actual.nlink}, the model says ${model.nlink}${zombies > 0 ? ` (+${zombies} in removed trees)` : ''}`
  if (actual.type === 'file' && model.length !== undefined && model.length !== actual.file.length) return `${what}: length ${actual.file.length}, the model says ${model.length}`
  if (actual.type === 'symlink' && model.target !== undefined && model.target !== actual.symlink.target) return `${what}: target ${actual.symlink.target}, the model says ${model.target}`
  return null
}

/** Compares a server's answer with the model's; null when they agree. */
function compare(model: Model, issued: Issued, expected: Outcome, actual: Outcome): string | null {
  const what = `${issued.op.type} ${JSON.stringify(issued.op)} (request ${issued.clientId}/${issued.requestId})`
  if (expected.ok !== actual.ok) return `${what}: the server answered ${actual.ok ? 'ok' : (actual as { errno: string }).errno}, the model says ${expected.ok ? 'ok' : (expected as { errno: string }).errno}`
  if (!expected.ok || !actual.ok) return expected.ok || actual.ok || expected.errno === actual.errno ? null : `${what}: the server refused with ${actual.errno}, the model with ${expected.errno}`
  const e = expected.value as Record<string, unknown>
  const a = actual.value as Record<string, unknown>
  const z = (id: number) => model.zombies.get(id) ?? 0
  switch (issued.op.type) {
    case 'create': {
      if (e.created !== a.created) return `${what}: created=${String(a.created)}, the model says ${String(e.created)}`
      const mi = e.inode as MNode
      return inodeMismatch(what, mi, a.inode as Inode, z((a.inode as Inode).id), mi.id !== -1)
    }
    case 'remove':
    case 'rename':
      return canonical(e) === canonical(a) ? null : `${what}: answered ${canonical(a)}, the model says ${canonical(e)}`
    case 'list': {
      const got = (a.entries as unknown[]) ?? []
      return canonical(got) === canonical(e) && a.more === false ? null : `${what}: listed ${canonical(got)}, the model says ${canonical(e)}`
    }
    default:
      return inodeMismatch(what, e as unknown as MNode, a as unknown as Inode, z((a as unknown as Inode).id), 'id' in e)
  }
}

export interface CheckResult {
  readonly events: number
  readonly recorded: number
}

/** Invariants 3 and 4: replays the history through a fresh model and compares everything. */
export function checkHistory(d: Dump, history: readonly Issued[], answers: readonly MetaAnswerEvent[]): CheckResult {
  const byRequest = new Map(history.map((h) => [`${h.clientId}/${h.requestId}`, h]))
  const events: Event[] = []
  for (const [key, record] of d.idem) {
    const issued = byRequest.get(key)
    if (issued === undefined) throw new Error(`an idempotency record ${key} belongs to no request of the workload`)
    events.push({ key: stampKey(record.versionstamp, 0, record.sub), kind: 'applied', issued, record })
  }
  for (const answer of answers) {
    const key = `${answer.clientId}/${answer.requestId}`
    const issued = byRequest.get(key)
    if (issued === undefined) throw new Error(`meta answered request ${key}, which no client sent`)
    const record = d.idem.get(key)
    const recorded = record === undefined ? undefined : record.error !== undefined ? `!${record.error.code}` : canonical(record.result)
    const given = answer.ok ? canonical(answer.value) : `!${answer.errno}`
    if (answer.replayed) {
      if (recorded !== undefined && recorded !== given) throw new Error(`a retry of ${issued.op.type} ${answer.requestId} got ${given}, not the first answer ${recorded}`)
      continue
    }
    // An answer of a recorded request type is checked through its record (its place in the serial order).
    if (MUTATING.has(issued.op.type) && (answer.ok || recorded === given)) continue
    const order = answer.versionstamp !== null ? stampKey(answer.versionstamp, 0, answer.sub) : [answer.readVersion as bigint, 0xffffn, 1n, BigInt(answer.sub)]
    if (order[0] > d.version) continue
    events.push({ key: order, kind: 'answer', issued, answer })
  }
  events.sort((x, y) => {
    for (let i = 0; i < 4; i++) if (x.key[i] !== y.key[i]) return x.key[i] < y.key[i] ? -1 : 1
    return 0
  })
  const model = new Model()
  for (const ev of events) {
    if (ev.kind === 'applied') {
      const failed = ev.record.error !== undefined
      const result = (ev.record.result ?? {}) as Record<string, unknown>
      const createdId = failed ? null : ev.issued.op.type === 'create' ? (result.created === true ? (result.inode as Inode).id : null) : ev.issued.op.type === 'mkdir' || ev.issued.op.type === 'symlink' ? (result as unknown as Inode).id : null
      const created = createdId === null ? null : { id: createdId }
      const expected = model.run(ev.issued.op, created, false)
      const actual: Outcome = failed ? { ok: false, errno: ev.record.error?.code as string } : { ok: true, value: ev.record.result }
      const bad = compare(model, ev.issued, expected, actual)
      if (bad === null && actual.ok) model.run(ev.issued.op, created, true)
      if (bad !== null) throw new Error(`applied ${bad}`)
    } else {
      const expected = model.run(ev.issued.op, null, false)
      const actual: Outcome = ev.answer.ok ? { ok: true, value: ev.answer.value } : { ok: false, errno: ev.answer.errno as string }
      const bad = compare(model, ev.issued, expected, actual)
      if (bad !== null) throw new Error(`answer at version ${ev.key[0]}: ${bad}`)
    }
  }
  checkAcks(d, history, answers)
  checkNamespace(d, model)
  return { events: events.length, recorded: d.idem.size }
}

function checkAcks(d: Dump, history: readonly Issued[], answers: readonly MetaAnswerEvent[]): void {
  for (const h of history) {
    if (h.ack === undefined) continue
    if (h.ack === 'lost') throw new Error(`${h.op.type} ${h.requestId} of ${h.clientId} never got an answer`)
    const record = d.idem.get(`${h.clientId}/${h.requestId}`)
    if (h.ack.ok && MUTATING.has(h.op.type)) {
      if (record === undefined || record.error !== undefined) throw new Error(`${h.op.type} ${JSON.stringify(h.op)} was acknowledged but never applied (${record === undefined ? 'no record' : `recorded as ${record.error?.code}`})`)
      if (canonical(record.result) !== canonical(h.ack.value)) throw new Error(`${h.op.type} ${JSON.stringify(h.op)} was acknowledged with ${canonical(h.ack.value)} but applied as ${canonical(record.result)}`)
      continue
    }
    if (!h.ack.ok && record !== undefined) {
      if (record.error?.code === h.ack.errno) continue
      throw new Error(`${h.op.type} ${JSON.stringify(h.op)} was ${record.error === undefined ? `applied (${canonical(record.result)})` : `recorded as ${record.error.code}`} but the client was told ${h.ack.errno}`)
    }
    const mine = answers.filter((a) => a.clientId === h.clientId && a.requestId === h.requestId)
    const ack = h.ack
    const matches = mine.some((a) => (ack.ok ? a.ok && canonical(a.value) === canonical(ack.value) : !a.ok && a.errno === ack.errno))
    if (!matches) throw new Error(`${h.op.type} ${JSON.stringify(h.op)}: the client's answer ${canonical(ack)} is none of the server's answers ${canonical(mine.map((a) => a.ok ? a.value : a.errno))}`)
  }
}

function checkNamespace(d: Dump, model: Model): void {
  const children = new Map<number, DirEntry[]>()
  for (const e of d.entries) children.set(e.parent, [...(children.get(e.parent) ?? []), e])
  const actual = new Map<string, Inode>()
  const visit = (dir: number, prefix: string) => {
    for (const e of (children.get(dir) ?? []).sort((a, b) => compareBytes(Buffer.from(a.name), Buffer.from(b.name)))) {
      const inode = d.inodes.get(e.id) as Inode
      actual.set(`${prefix}/${e.name}`, inode)
      if (inode.type === 'directory') visit(e.id, `${prefix}/${e.name}`)
    }
  }
  visit(ROOT_INODE, '')
  const expected = model.namespace()
  for (const path of new Set([...actual.keys(), ...expected.keys()])) {
    const a = actual.get(path)
    const e = expected.get(path)
    if (a === undefined || e === undefined) throw new Error(`${path} ${a === undefined ? 'is missing from the KV' : 'exists in the KV'} but ${e === undefined ? 'not in' : 'in'} the model`)
    const bad = inodeMismatch(`stat ${path}`, e, a, model.zombies.get(e.id) ?? 0, true)
    if (bad !== null) throw new Error(bad)
  }
}
