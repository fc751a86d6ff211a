/**
 * The reference model of the KVCache simulation: every put, delete and unlink of every instance as
 * an interval of a global order of observations (`seq`: an operation invoked after another's
 * answer was observed really started after it), and the checks of what an answer may be.
 *
 * A key is a register written by puts (a version) and by unlinks of its file (null: delete, GC,
 * eviction). A write whose answer was not seen (it failed, or its node crashed) may have happened
 * at any time after it started: its end is +Infinity. A read may return the value of a write that
 * started before the read ended and was not certainly overwritten before the read started (by a
 * write that started after it ended and ended before the read started) — the usual rule for a
 * register. On top of that: a version is expired from its put time (the cache clock when the put
 * was called, which the file's mtime carries) plus the TTL, and a get never returns an expired
 * version; a null is allowed only when a candidate is an unlink, the empty start, or an expired
 * version.
 *
 * Who unlinks: a delete is allowed anything; a GC pass (in seeds whose capacity is never reached)
 * may only take a key whose current block — a put that ended before the pass started and that no
 * other write can have followed — is expired; evictions (an unlink while a put or GC of that
 * instance runs in seeds with a small capacity) are allowed. A temporary file is deleted by its
 * own put (after one of its steps failed) or by a GC once it is orphanTempAgeMs old.
 */
import { readBlock } from './kvcache-blocks.ts'

export class Violation extends Error {}

const trace = process.env.T3FS_SIM_TRACE !== undefined

export type Outcome = 'pending' | 'ok' | 'failed' | 'lost'

export interface PutRec {
  readonly key: string
  readonly version: number
  readonly inst: string
  /** The cache clock (whole ms) when put was called: the file's mtime, the TTL's origin. */
  readonly putAtMs: number
  readonly inv: number
  res: number
  state: Outcome
  /** A step of this put on its temporary file failed (its own unlink of the file is then cleanup). */
  tempFailed: boolean
}

export type UnlinkKind = 'delete' | 'gc' | 'evict' | 'unexplained'

export interface UnlinkRec {
  readonly key: string
  readonly inst: string
  readonly kind: UnlinkKind
  readonly inv: number
  readonly atMs: number
  /** The earliest gc() call of the instance in flight when this unlink started (kind 'gc'). */
  readonly gcInv: number
  res: number
  state: Outcome | 'enoent'
}

interface TempOwner {
  readonly put: PutRec | null
  readonly createdAtMs: number
}

/** One gets' observation: seq interval and the cache clock at both ends. */
export interface ReadSpan {
  readonly inv: number
  readonly res: number
  readonly startMs: number
  readonly endMs: number
}

type Write = { readonly inv: number; readonly res: number; readonly put: PutRec | null }

export interface ModelOptions {
  readonly ttlMs: number
  readonly orphanTempAgeMs: number
  /** The capacity is never reached: every GC unlink must be of an expired block. */
  readonly strictGc: boolean
}

export class KvModel {
  private counter = 0
  private readonly puts = new Map<string, PutRec[]>()
  private readonly unlinks = new Map<string, UnlinkRec[]>()
  private readonly temps = new Map<string, TempOwner>()
  readonly counts = { gets: 0, hits: 0, nulls: 0, gcChecked: 0, orphansDeleted: 0, tempCleanups: 0 }

  constructor(readonly options: ModelOptions) {}

  seq(): number {
    return ++this.counter
  }

  putStarted(inst: string, key: string, version: number, putAtMs: number): PutRec {
    const rec: PutRec = { key, version, inst, putAtMs, inv: this.seq(), res: Infinity, state: 'pending', tempFailed: false }
    let list = this.puts.get(key)
    if (list === undefined) this.puts.set(key, list = [])
    list.push(rec)
    return rec
  }

  putEnded(rec: PutRec, ok: boolean): void {
    if (rec.state !== 'pending') return
    rec.state = ok ? 'ok' : 'failed'
    if (ok) rec.res = this.seq()
  }

  /** An instance's node crashed: what it had in flight may still take effect, at any time. */
  lost(inst: string): void {
    for (const list of this.puts.values()) for (const p of list) if (p.inst === inst && p.state === 'pending') p.state = 'lost'
    for (const list of this.unlinks.values()) for (const u of list) if (u.inst === inst && u.state === 'pending') u.state = 'lost'
  }

  put(key: string, version: number): PutRec | undefined {
    return this.puts.get(key)?.find((p) => p.version === version)
  }

  unlinkStarted(inst: string, key: string, kind: UnlinkKind, atMs: number, gcInv: number): UnlinkRec {
    const rec: UnlinkRec = { key, inst, kind, inv: this.seq(), atMs, gcInv, res: Infinity, state: 'pending' }
    let list = this.unlinks.get(key)
    if (list === undefined) this.unlinks.set(key, list = [])
    list.push(rec)
    if (kind === 'unexplained') throw new Violation(`${inst} unlinked the block of ${key} with no delete, GC pass or put of its own running`)
    return rec
  }

  unlinkEnded(rec: UnlinkRec, outcome: 'ok' | 'enoent' | 'failed', nowMs: number): void {
    if (rec.state !== 'pending') return
    rec.state = outcome
    if (trace) console.log(`${nowMs.toFixed(1)} ${rec.inst} unlink ${rec.key} (${rec.kind}, seq ${rec.inv}) ${outcome}`)
    if (outcome !== 'ok') return
    rec.res = this.seq()
    if (rec.kind === 'evict' && this.options.strictGc) throw new Violation(`${rec.inst} evicted ${rec.key} at ${nowMs} ms, though the capacity is never reached in this seed`)
    if (rec.kind === 'gc' && this.options.strictGc) this.checkGcUnlink(rec)
  }

  /** A temporary file's create was sent: the put that owns its name from now on (null: unknown). */
  tempCreating(path: string, put: PutRec | null, nowMs: number): () => void {
    const before = this.temps.get(path)
    this.temps.set(path, { put, createdAtMs: nowMs })
    // EEXIST: the name stays its earlier owner's.
    return () => { if (before === undefined) this.temps.delete(path); else this.temps.set(path, before) }
  }

  tempFailed(path: string): void {
    const owner = this.temps.get(path)
    if (owner?.put != null) owner.put.tempFailed = true
  }

  /** `inst` unlinks a temporary file: its own put's cleanup, or a GC taking an orphan. */
  tempUnlink(inst: string, path: string, gcRunning: boolean, nowMs: number): void {
    const owner = this.temps.get(path)
    if (owner === undefined) throw new Violation(`${inst} unlinked ${path}, a temporary file no put created`)
    const own = owner.put !== null && owner.put.inst === inst && owner.put.state === 'pending' && (owner.put.tempFailed || !gcRunning)
    if (own) {
      this.counts.tempCleanups++
      return
    }
    if (!gcRunning) throw new Violation(`${inst} unlinked ${path} (not its put's) with no GC pass running`)
    const ageMs = nowMs - owner.createdAtMs
    if (ageMs < this.options.orphanTempAgeMs) {
      const whose = owner.put === null ? 'an unknown put' : `the ${owner.put.state} put of ${owner.put.key} v${owner.put.version} by ${owner.put.inst}`
      throw new Violation(`a GC of ${inst} deleted ${path} (of ${whose}) ${ageMs.toFixed(1)} ms after its create; orphanTempAgeMs is ${this.options.orphanTempAgeMs}`)
    }
    this.counts.orphansDeleted++
  }

  /** A get (or exists, or a final read of the tree) of `key` answered `bytes` (null: none). Returns the version. */
  checkGet(inst: string, key: string, bytes: Uint8Array | null, span: ReadSpan): number | null {
    this.counts.gets++
    const candidates = this.candidates(key, span)
    const expiredAt = (p: PutRec, ms: number): boolean => p.putAtMs + this.options.ttlMs <= Math.floor(ms)
    if (bytes === null) {
      this.counts.nulls++
      if (candidates.some((w) => w.put === null || expiredAt(w.put, span.endMs))) return null
      throw new Violation(`${inst}: get ${key} at ${fmt(span)} answered null; the block must be one of ${describe(candidates.map((w) => w.put as PutRec), this.options.ttlMs)}`)
    }
    this.counts.hits++
    const block = readBlock(key, bytes)
    if (!block.ok) throw new Violation(`${inst}: get ${key} at ${fmt(span)} answered a block that is not whole: ${block.why}`)
    const put = candidates.find((w) => w.put?.version === block.version)?.put
    if (put == null) {
      const known = this.put(key, block.version)
      const allowed = candidates.some((w) => w.put === null) ? 'null or ' : ''
      throw new Violation(`${inst}: get ${key} at ${fmt(span)} answered version ${block.version} (${known === undefined ? 'never put' : `put by ${known.inst}, seq ${known.inv}–${known.res}`}); allowed: ${allowed}${describe(candidates.flatMap((w) => w.put === null ? [] : [w.put]), this.options.ttlMs)}`)
    }
    if (expiredAt(put, span.startMs)) throw new Violation(`${inst}: get ${key} at ${fmt(span)} answered version ${put.version}, put at ${put.putAtMs} ms: expired at ${put.putAtMs + this.options.ttlMs} ms`)
    return put.version
  }

  /** exists answered `present`: a present block is an unexpired candidate; absent is a null. */
  checkExists(inst: string, key: string, present: boolean, span: ReadSpan): void {
    const candidates = this.candidates(key, span)
    if (!present) {
      if (candidates.some((w) => w.put === null || w.put.putAtMs + this.options.ttlMs <= Math.floor(span.endMs))) return
      throw new Violation(`${inst}: exists ${key} at ${fmt(span)} answered false; the block must be one of ${describe(candidates.map((w) => w.put as PutRec), this.options.ttlMs)}`)
    }
    if (!candidates.some((w) => w.put !== null && w.put.putAtMs + this.options.ttlMs > Math.floor(span.startMs))) {
      throw new Violation(`${inst}: exists ${key} at ${fmt(span)} answered true; allowed: null or expired ${describe(candidates.flatMap((w) => w.put === null ? [] : [w.put]), this.options.ttlMs)}`)
    }
  }

  /** A block file of `key` found in the tree after the run holds `version`: it must be one that may be current (expiry aside: no GC ran since). */
  checkStored(inst: string, key: string, version: number, span: ReadSpan): number {
    const candidates = this.candidates(key, span)
    if (!candidates.some((w) => w.put?.version === version)) {
      throw new Violation(`${inst}: after the run the block file of ${key} holds version ${version}; allowed: ${candidates.some((w) => w.put === null) ? 'none or ' : ''}${describe(candidates.map((w) => w.put), this.options.ttlMs)}`)
    }
    return version
  }

  /** The writes of `key` a read over `span` may observe (put null: an unlink or the empty start). */
  private candidates(key: string, span: ReadSpan): Write[] {
    const writes = this.writes(key)
    // The latest start among writes that ended before the read started: whatever ended before it is overwritten.
    let frontier = -Infinity
    for (const w of writes) if (w.res < span.inv) frontier = Math.max(frontier, w.inv)
    const out = writes.filter((w) => w.inv < span.res && w.res >= frontier)
    if (frontier === -Infinity) out.push({ inv: -Infinity, res: -Infinity, put: null })
    return out
  }

  private writes(key: string): Write[] {
    const out: Write[] = (this.puts.get(key) ?? []).map((p) => ({ inv: p.inv, res: p.res, put: p }))
    // An unlink that found nothing wrote nothing; one that failed may have happened.
    for (const u of this.unlinks.get(key) ?? []) if (u.state !== 'enoent') out.push({ inv: u.inv, res: u.res, put: null })
    return out
  }

  /** A GC unlink took `u.key`: its current block must have been expired (if it is known for certain). */
  private checkGcUnlink(u: UnlinkRec): void {
    this.counts.gcChecked++
    const others = this.writes(u.key).filter((w) => w.inv !== u.inv)
    for (const p of this.puts.get(u.key) ?? []) {
      if (p.state !== 'ok' || p.res >= u.gcInv) continue
      const followed = others.some((w) => w.put !== p && w.res > p.inv && w.inv < u.res)
      if (followed) continue
      if (p.putAtMs + this.options.ttlMs > Math.floor(u.atMs)) {
        throw new Violation(`a GC pass of ${u.inst} deleted ${u.key} at ${u.atMs} ms, whose block (v${p.version}, put by ${p.inst} at ${p.putAtMs} ms, acknowledged before the pass) expires at ${p.putAtMs + this.options.ttlMs} ms`)
      }
    }
  }
}

function fmt(span: ReadSpan): string {
  return `${span.startMs.toFixed(1)}–${span.endMs.toFixed(1)} ms (seq ${span.inv}–${span.res})`
}

function describe(puts: readonly (PutRec | null)[], ttlMs: number): string {
  const shown = puts.filter((p): p is PutRec => p !== null).map((p) => `v${p.version} (${p.inst}, ${p.state}, seq ${p.inv}–${p.res}, put at ${p.putAtMs}, expires ${p.putAtMs + ttlMs})`)
  return shown.length === 0 ? '(nothing)' : shown.join(', ')
}
