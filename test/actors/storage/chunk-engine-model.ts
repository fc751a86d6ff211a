/**
 * A model of what the chunk engine must hold, and a seeded random workload checked against it:
 * several workers update, commit, drop, read and remove chunks of two chains (one operation per
 * chunk at a time, many chunks at once); a life ends by a power loss at a random point (mid-commit
 * included) or a clean close, and the next life must find:
 *
 * - every chunk's committed version = its last acknowledged commit, or the commit that was in
 *   flight when the power went (never anything else, never a mix: ERR_CHUNK_CORRUPT fails too);
 * - a pending version that is one the workload produced, whole, or none;
 * - no chunk the workload never wrote;
 * - used space = the blocks of the live chunks, and no group file space beyond the groups reserved.
 *
 * During a life every read must return the model's bytes exactly (or, with disk faults on, fail
 * with a coded fault: EIO, ERR_CHUNK_CORRUPT, ERR_CHUNK_ENGINE_FAILED).
 */
import { crc32c } from '../../../runtime/checksum.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import type { DiskBuffer } from '../../../runtime/disk/disk.ts'
import { T3fsError } from '../../../runtime/errors.ts'
import type { SeededRandom } from '../../../runtime/random.ts'
import { formatChunkId, makeChunkId, type ChunkId } from '../../../actors/storage/chunk-id.ts'
import { ChunkEngineErrorCode as Code, type ChunkEngineMutant, type ChunkEngineOptions, type ChunkUpdate } from '../../../actors/storage/chunk-engine/index.ts'
import type { Engine } from '../../../actors/storage/chunk-engine/chunk-engine.ts'
import { KiB, randomBytes, sameBytes, takeBytes } from './chunk-engine-fixture.ts'

export interface VersionModel {
  readonly version: number
  readonly chainVersion: number
  /** null: a removal. */
  readonly bytes: Uint8Array | null
}

export interface ChunkModel {
  readonly chainId: number
  readonly chunkId: ChunkId
  committed: VersionModel | null
  /** A commit whose outcome is unknown (in flight at a power loss, or failed in the index): it may be durable. */
  maybeCommitted: VersionModel | null
  pending: VersionModel | null
  /** Pending versions produced since the last check: a recovered pending version must be one of them. */
  produced: VersionModel[]
  busy: boolean
}

/** Where the engine lives: a SimDisk that can lose power, or a real disk that only closes cleanly. */
export interface Backend {
  open(options: Partial<ChunkEngineOptions>): Promise<Engine>
  /** Null when the disk cannot lose power (UringDisk): lives then end with a clean close. */
  readonly crash: (() => Promise<void>) | null
  /** Runs the workload until `stop()` holds or `work` settles. */
  run(work: Promise<unknown>, stop: () => boolean): Promise<void>
  /** Waits for one operation (moving virtual time where there is one). */
  drive<T>(promise: Promise<T>): Promise<T>
  /** Runs checks with the disk's injected faults off (the checks want the truth, not a fault). */
  quiet<T>(work: () => Promise<T>): Promise<T>
  pooled(bytes: Uint8Array): PooledBuffer
  /** Bytes allocated in the engine's group files (SimDisk only). */
  blockFileBytes(): number | null
}

export interface ScenarioOptions {
  readonly lives: number
  readonly opsPerLife: number
  readonly workers: number
  /** Disk faults are on: reads and updates may fail with a coded fault. */
  readonly faulty?: boolean
  readonly mutant?: ChunkEngineMutant
  /** Largest chunk the workload makes (default 480 KiB: blocks of 64 to 512 KiB, writes in two pieces). */
  readonly maxChunkBytes?: number
}

const faultCodes = new Set(['EIO', 'ENOSPC', Code.chunkCorrupt, Code.engineFailed])

class Workload {
  readonly chunks: ChunkModel[] = []
  private readonly chainVersions = new Map<number, number>([[1, 1], [2, 1]])
  private requestSeq = 0
  opsDone = 0

  constructor(readonly random: SeededRandom, private readonly backend: Backend, private readonly options: ScenarioOptions) {
    for (const chainId of [1, 2]) {
      for (let inode = 1n; inode <= 3n; inode++) {
        for (let index = 0; index < 4; index++) {
          this.chunks.push({ chainId, chunkId: makeChunkId(inode, index), committed: null, maybeCommitted: null, pending: null, produced: [], busy: false })
        }
      }
    }
  }

  get maxChunk(): number {
    return this.options.maxChunkBytes ?? 480 * KiB
  }

  /** Workers run until `opsTarget` operations are done (or forever, until the life is cut short). */
  async work(engine: Engine, opsTarget: number): Promise<void> {
    const worker = async (): Promise<void> => {
      while (this.opsDone < opsTarget && engine.state === 'open') {
        const idle = this.chunks.filter((c) => !c.busy)
        const m = idle[this.random.int(idle.length)]
        m.busy = true
        try {
          await this.step(engine, m)
        } finally {
          m.busy = false
        }
        this.opsDone++
      }
    }
    await Promise.all(Array.from({ length: this.options.workers }, worker))
  }

  private async step(engine: Engine, m: ChunkModel): Promise<void> {
    const r = this.random.next()
    if (this.random.next() < 0.02) this.chainVersions.set(m.chainId, this.chainVersions.get(m.chainId)! + 1)
    if (r < 0.30) return this.write(engine, m)
    if (r < 0.36) return this.resize(engine, m, 'truncate')
    if (r < 0.40) return this.resize(engine, m, 'extend')
    if (r < 0.43) return this.remove(engine, m)
    if (r < 0.68) return this.commit(engine, m)
    if (r < 0.71) return this.drop(engine, m)
    if (r < 0.73) return this.fenced(engine, m)
    return this.readBack(engine, m, this.random.next() < 0.2)
  }

  private tag() {
    return { clientId: 'workload', requestId: ++this.requestSeq }
  }

  private async write(engine: Engine, m: ChunkModel): Promise<void> {
    const base = m.committed?.bytes ?? new Uint8Array(0)
    const length = 1 + this.random.int(this.random.next() < 0.5 ? 8 * KiB : 200 * KiB)
    const syncing = this.random.next() < 0.08
    const offset = syncing ? 0 : this.random.int(Math.max(1, Math.min(base.length + 16 * KiB, this.maxChunk - length)))
    const data = randomBytes(this.random, length)
    const c = m.committed?.version ?? 0
    const replica = !syncing && this.random.next() < 0.25
    const version = c + 1
    const slots = this.random.next() < 0.4 ? this.splitIntoSlots(data) : null
    const update: ChunkUpdate = {
      chainId: m.chainId, chunkId: m.chunkId, kind: 'write', offset, data: slots ?? data, checksum: crc32c(data),
      chainVersion: this.chainVersion(m), tag: this.tag(),
      ...(syncing ? { syncing: true, updateVersion: version } : replica ? { updateVersion: version } : {}),
    }
    const bytes = syncing ? withData(new Uint8Array(0), 0, data) : withData(base, offset, data)
    try {
      await this.produce(engine, m, update, bytes)
    } finally {
      for (const slot of slots ?? []) (slot as PooledBuffer).release()
    }
  }

  /** The data in one or two pool slots (written without a copy where aligned). */
  private splitIntoSlots(data: Uint8Array): DiskBuffer[] {
    const cut = data.length > 64 * KiB && this.random.next() < 0.5 ? 64 * KiB : data.length
    return cut === data.length ? [this.backend.pooled(data)] : [this.backend.pooled(data.subarray(0, cut)), this.backend.pooled(data.subarray(cut))]
  }

  private async resize(engine: Engine, m: ChunkModel, kind: 'truncate' | 'extend'): Promise<void> {
    const base = m.committed?.bytes ?? new Uint8Array(0)
    const lengthBytes = this.random.int(this.maxChunk)
    const newLength = kind === 'truncate' ? lengthBytes : Math.max(base.length, lengthBytes)
    const bytes = new Uint8Array(newLength)
    bytes.set(base.subarray(0, Math.min(base.length, newLength)))
    await this.produce(engine, m, { chainId: m.chainId, chunkId: m.chunkId, kind, lengthBytes, chainVersion: this.chainVersion(m), tag: this.tag() }, bytes)
  }

  private async remove(engine: Engine, m: ChunkModel): Promise<void> {
    await this.produce(engine, m, { chainId: m.chainId, chunkId: m.chunkId, kind: 'remove', chainVersion: this.chainVersion(m), tag: this.tag() }, null)
  }

  /** Runs an update and records the pending version it produced. */
  private async produce(engine: Engine, m: ChunkModel, update: ChunkUpdate, bytes: Uint8Array | null): Promise<void> {
    const result = await this.tolerate(engine.update(update))
    if (result === null) return
    const expected = update.syncing === true ? update.updateVersion! : (m.committed?.version ?? 0) + 1
    check(result.version === expected, `${name(m)}: update got version ${result.version}, expected ${expected}`)
    if (bytes !== null) check(result.crc32c === crc32c(bytes) && result.lengthBytes === bytes.length, `${name(m)}: update reports length ${result.lengthBytes} crc ${result.crc32c}, the model ${bytes.length} / ${crc32c(bytes)}`)
    m.pending = { version: result.version, chainVersion: update.chainVersion, bytes }
    m.produced.push(m.pending)
  }

  private async commit(engine: Engine, m: ChunkModel): Promise<void> {
    const pending = m.pending
    if (pending === null) return
    m.maybeCommitted = pending
    const result = await this.tolerate(engine.commit({ chainId: m.chainId, chunkId: m.chunkId, version: pending.version }))
    if (result === null) return // unknown: it stays a maybe
    check(result.version === pending.version && result.removed === (pending.bytes === null), `${name(m)}: commit result ${JSON.stringify(result)}`)
    m.committed = pending.bytes === null ? null : pending
    m.maybeCommitted = null
    m.pending = null
    m.produced = []
  }

  private async drop(engine: Engine, m: ChunkModel): Promise<void> {
    const had = await this.tolerate(engine.dropPending(m.chainId, m.chunkId))
    if (had === null) return
    check(had === (m.pending !== null), `${name(m)}: drop says ${had}, the model has ${m.pending === null ? 'no' : 'a'} pending version`)
    m.pending = null
  }

  /** An update with an older chain version than the committed one is refused (and changes nothing). */
  private async fenced(engine: Engine, m: ChunkModel): Promise<void> {
    if (m.committed === null || m.committed.chainVersion === 0) return
    const update: ChunkUpdate = { chainId: m.chainId, chunkId: m.chunkId, kind: 'truncate', lengthBytes: 0, chainVersion: m.committed.chainVersion - 1, tag: this.tag() }
    try {
      await engine.update(update)
    } catch (error) {
      if ((error as T3fsError).code === Code.chainVersionMismatch || (this.options.faulty === true && faultCodes.has((error as T3fsError).code))) return
      throw error
    }
    throw new Error(`${name(m)}: an update with chain version ${update.chainVersion} < ${m.committed.chainVersion} was applied`)
  }

  /** Reads the committed (or pending) version and compares with the model. */
  async readBack(engine: Engine, m: ChunkModel, uncommitted: boolean): Promise<void> {
    const want = uncommitted && m.pending !== null ? m.pending : m.committed
    const got = await this.tolerate(readChunk(engine, m, uncommitted))
    if (got === null) return
    if (want === null || want.bytes === null) return check(got === 'absent', `${name(m)}: read found a version where the model has none`)
    check(got !== 'absent', `${name(m)}: read found nothing, the model has version ${want.version}`)
    check(sameBytes(got.bytes, want.bytes), `${name(m)}: read ${got.bytes.length} bytes of version ${got.version}, they differ from the model's ${want.bytes.length} bytes of version ${want.version}${firstDifference(got.bytes, want.bytes)}`)
  }

  /** The result, or null for a fault the disk injected (faulty runs only); anything else is thrown. */
  async tolerate<T>(promise: Promise<T>): Promise<T | null> {
    try {
      return await promise
    } catch (error) {
      if (this.options.faulty === true && error instanceof T3fsError && faultCodes.has(error.code)) return null
      throw error
    }
  }

  private chainVersion(m: ChunkModel): number {
    return Math.max(this.chainVersions.get(m.chainId)!, m.committed?.chainVersion ?? 0)
  }
}

/** The whole chunk (read in parts of one version), 'absent' when there is no such version. */
export async function readChunk(engine: Engine, m: { chainId: number; chunkId: ChunkId }, uncommitted: boolean): Promise<{ version: number; bytes: Uint8Array } | 'absent'> {
  const meta = engine.getChunk(m.chainId, m.chunkId)
  const v = uncommitted && meta?.pending != null ? meta.pending : meta?.committed ?? null
  if (v === null || v.removed) return 'absent'
  const bytes = new Uint8Array(v.lengthBytes)
  for (let offset = 0; offset < v.lengthBytes; offset += 128 * KiB) {
    const part = await engine.read({ chainId: m.chainId, chunkId: m.chunkId, offset, length: 128 * KiB, uncommitted, expectedVersion: v.version })
    bytes.set(takeBytes(part), offset)
  }
  return { version: v.version, bytes }
}

/**
 * After a power loss (or a clean close): every chunk matches one of its allowed states, which
 * then become the model's; no phantom chunk; no leaked block.
 */
async function checkRecovered(engine: Engine, workload: Workload, backend: Backend): Promise<void> {
  for (const m of workload.chunks) {
    const meta = engine.getChunk(m.chainId, m.chunkId)
    const got = await backend.drive(readChunk(engine, m, false))
    const allowed = [m.committed, m.maybeCommitted?.bytes === null ? null : m.maybeCommitted]
    const match = allowed.find((a) => (a === null ? got === 'absent' : got !== 'absent' && got.version === a.version && sameBytes(got.bytes, a.bytes!)))
    check(match !== undefined, `${name(m)}: after the crash the committed version is ${got === 'absent' ? 'absent' : `${got.version} (${got.bytes.length} bytes)`}; allowed: ${allowed.map(describe).join(' or ')}${got !== 'absent' && m.committed?.bytes ? firstDifference(got.bytes, m.committed.bytes) : ''}`)
    m.committed = match
    m.maybeCommitted = null
    m.pending = null
    if (meta?.pending != null) {
      const pending = await backend.drive(readChunk(engine, m, true))
      const found = m.produced.find((p) => p.version === meta.pending!.version && (p.bytes === null ? meta.pending!.removed : pending !== 'absent' && sameBytes(pending.bytes, p.bytes)))
      check(found !== undefined, `${name(m)}: a pending version ${meta.pending.version} (${meta.pending.lengthBytes} bytes) came back that is none the workload produced whole (${m.produced.map(describe).join(', ') || 'none'})`)
      m.pending = found
    }
    m.produced = m.pending === null ? [] : [m.pending]
  }
  const known = new Set(workload.chunks.map((m) => `${m.chainId}/${m.chunkId}`))
  for (const chainId of engine.chainIds()) {
    for (const meta of engine.queryChunks(chainId)) check(known.has(`${chainId}/${meta.chunkId}`), `a phantom chunk ${formatChunkId(meta.chunkId)} in chain ${chainId}`)
  }
  await checkSpace(engine, backend)
}

/** Used space = the blocks of the live versions; the allocator agrees; group files hold no more than the reserved groups. */
export async function checkSpace(engine: Engine, backend: Backend): Promise<void> {
  await backend.drive(engine.sync())
  await backend.drive(engine.settle())
  let live = 0
  for (const chainId of engine.chainIds()) {
    for (const meta of engine.queryChunks(chainId)) live += (meta.committed?.blockBytes ?? 0) + (meta.pending?.blockBytes ?? 0)
  }
  const space = await backend.drive(engine.space())
  const accounting = engine.blockAccounting()
  check(space.usedBytes === live, `used space ${space.usedBytes} ≠ the live chunks' blocks ${live} (a leak or a shared block)`)
  check(accounting.allocatorUsedBytes === live, `the allocator counts ${accounting.allocatorUsedBytes} bytes in use, the chunks ${live}`)
  check(space.chains.reduce((sum, c) => sum + c.usedBytes, 0) === live, 'per-chain used space does not add up')
  for (const c of space.chains) {
    const walked = engine.queryChunks(c.chainId).length
    check(c.chunks === walked, `chain ${c.chainId}: space counts ${c.chunks} chunks, a walk finds ${walked}`)
  }
  const fileBytes = backend.blockFileBytes()
  if (fileBytes !== null) check(fileBytes <= space.reservedBytes, `group files hold ${fileBytes} bytes, more than the ${space.reservedBytes} bytes of reserved groups (a group not punched)`)
}

/** The whole scenario: `lives` lives, each ending in a power loss at a random point (or a close), checked after each. */
export async function runScenario(backend: Backend, random: SeededRandom, options: ScenarioOptions): Promise<{ readonly ops: number; readonly crashes: number }> {
  const workload = new Workload(random, backend, options)
  let crashes = 0
  for (let life = 0; life < options.lives; life++) {
    const engine = await phase(life, 'open', () => openEngine(backend, options))
    if (life > 0) await phase(life, 'checks after the restart', () => backend.quiet(() => checkRecovered(engine, workload, backend)))
    const crashAt = workload.opsDone + 1 + random.int(options.opsPerLife)
    const work = workload.work(engine, workload.opsDone + options.opsPerLife)
    const crash = backend.crash !== null && life < options.lives - 1
    await phase(life, 'workload', () => backend.run(work, () => (crash && workload.opsDone >= crashAt) || engine.state === 'failed'))
    if (crash || engine.state === 'failed') {
      if (backend.crash === null) throw new Error(`life ${life}: the engine failed on a disk that cannot crash: ${engine.failure?.message}`)
      await backend.crash()
      crashes++
      continue
    }
    await phase(life, 'workload', () => backend.drive(work))
    const failedLate = await phase(life, 'checks before a clean close', () => backend.quiet(async () => {
      try {
        for (const m of workload.chunks) await backend.drive(workload.readBack(engine, m, false))
        await checkSpace(engine, backend)
        await backend.drive(engine.close())
        return false
      } catch (error) {
        // A flush issued while faults were on may still fail the engine here: a restart, as in the workload.
        if (options.faulty === true && engine.state === 'failed' && backend.crash !== null) return true
        throw error
      }
    }))
    if (failedLate) {
      await backend.crash!()
      crashes++
    }
  }
  await phase(options.lives, 'final checks', () => backend.quiet(async () => {
    const final = await openEngine(backend, options)
    await checkRecovered(final, workload, backend)
    await backend.drive(final.close())
  }))
  return { ops: workload.opsDone, crashes }
}

/** Runs one phase of the scenario; a failure says which life and phase it happened in. */
async function phase<T>(life: number, name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof Error) error.message = `life ${life}, ${name}: ${error.message}`
    throw error
  }
}

/** Opens the engine; with disk faults on, an open that meets an injected fault is tried again (a node restarting). */
async function openEngine(backend: Backend, options: ScenarioOptions): Promise<Engine> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await backend.open({ mutant: options.mutant })
    } catch (error) {
      if (options.faulty !== true || attempt >= 20 || !(error instanceof T3fsError) || !faultCodes.has(error.code)) throw error
    }
  }
}

function withData(base: Uint8Array, offset: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(base.length, offset + data.length))
  out.set(base)
  out.set(data, offset)
  return out
}

function name(m: { chainId: number; chunkId: ChunkId }): string {
  return `chunk ${formatChunkId(m.chunkId)} of chain ${m.chainId}`
}

function describe(v: VersionModel | null): string {
  return v === null ? 'absent' : v.bytes === null ? `removal at ${v.version}` : `version ${v.version} (${v.bytes.length} bytes)`
}

function firstDifference(a: Uint8Array, b: Uint8Array): string {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return `; first difference at byte ${i}`
  return a.length === b.length ? '' : `; lengths ${a.length} and ${b.length}`
}

export function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message)
}
