/**
 * One USRBIO client connection on the server: its registered regions (mapped /dev/shm files), its
 * rings, the files it opened through the FileClient. `submit` drains a ring: SQEs are taken while
 * the CQ has room for their completions, each becomes one FileClient read or write straight into
 * or out of the mapped region (the FileClient splits it into parallel chunk I/O), and each result
 * becomes a CQE; a burst of CQEs wakes the client once.
 *
 * A client that dies (its socket closes) ends the session: files are closed, regions and rings are
 * dropped; I/O still in flight finishes into the mapping (kept alive by its reference) and its
 * completion is discarded. Bad SQEs complete with -errno, never reach the FileClient.
 */
import { constants } from 'node:os'
import type { Outcome } from '../../../runtime/actor.ts'
import { T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import type { FileClient, FileHandle } from '../file-client.ts'
import { checkShmName, MAX_IO_BYTES, ringBytes, OFF_CQ_HEAD, OFF_CQ_TAIL, OFF_CQ_WAITING, OFF_CQ_WAKE_MIN, OFF_SQ_HEAD, OFF_SQ_NEED_WAKE, OFF_SQ_TAIL, OP_READ, OP_WRITE, RingView, SHM_DIR, type Sqe } from './layout.ts'
import type { UsrbioRequest } from './protocol.ts'
import type { SealedSharedMemory } from '../../../runtime/shared-memory.ts'
import type { RegionHandle } from '../../../runtime/regions-actor.ts'

export interface UsrbioLimits {
  /** Regions one client may register at once. */
  readonly maxRegions: number
  /** Rings one client may register at once. */
  readonly maxRings: number
  /** Files one client may have open at once. */
  readonly maxOpenFiles: number
  /** I/Os in flight over all clients of the server. */
  readonly maxInFlight: number
}

/** What the session needs from its host (the actor, or a test). */
export interface SessionHost {
  readonly fs: FileClient
  readonly limits: UsrbioLimits
  /** Maps a /dev/shm file (throws an errno-coded T3fsError). */
  map(path: string): ArrayBuffer
  /** Makes size-sealed shared memory the client maps by path (runtime/shared-memory.ts). */
  createSealed(sizeBytes: number): SealedSharedMemory
  send(message: object): void
  /** Runs `work` off the handler and calls `then` with its outcome (the actor's pipeToSelf). */
  track<T>(work: Promise<T>, then: (outcome: Outcome<T>) => void): void
  /** Shared across sessions: I/Os in flight now. */
  inFlight: { count: number }
  /** Shared across sessions: reads whose region was registered, so replicas pushed their bytes straight in. */
  pushed: { reads: number }
  /** Called when a session may proceed after another freed in-flight room. */
  wakeAll(): void
  /**
   * Registers size-sealed shared memory (by path) as a region of the node, so replicas push read
   * bytes straight into it (ctx.regions.registerShared); absent: reads go through the FileClient's
   * I/O buffers and a copy.
   */
  registerShared?(path: string): Promise<RegionHandle>
  unregisterRegion?(region: RegionHandle): void
}

/** A client's region as the server holds it. */
interface Region {
  readonly name: string
  readonly bytes: Uint8Array
  /** Registered with the node's regions (server-made regions only), once that is done. */
  handle: RegionHandle | null
  /** SQEs in flight into or out of it: its handle is unregistered only when none is. */
  inFlight: number
  dropped: boolean
}

interface Ring {
  readonly id: number
  readonly view: RingView
  inFlight: number
}

interface OpenFile {
  readonly handle: FileHandle
  readonly write: boolean
}

const ERRNO = constants.errno as Record<string, number>

/** A T3fsError's code as an errno (EIO for codes that are not errno names). */
export function errnoOf(error: T3fsError): number {
  return ERRNO[error.code] ?? constants.errno.EIO
}

/** Server-made regions and rings a connection may leave unmapped at once (each holds a descriptor open). */
export const maxUnmapped = 8

/** Malformed requests a connection may send before the server closes it (a broken or hostile client). */
export const maxBadRequests = 1000

export class UsrbioSession {
  private badRequests = 0

  private readonly regions = new Map<number, Region>()
  /** Server-made memory whose descriptor stays open until the client says it mapped it. */
  private readonly unmapped = new Map<number, SealedSharedMemory>()
  private readonly rings = new Map<number, Ring>()
  private readonly files = new Map<number, OpenFile>()
  private nextId = 1
  private closed = false
  private wakePending = new Set<number>()

  constructor(private readonly host: SessionHost) {}

  /** One request line: replies (or, for submit, drains the ring). */
  request(req: UsrbioRequest): void {
    if (this.closed) return
    if (req.op === 'submit') return this.submit(req.ring)
    const fail = (error: unknown): void => {
      const e = toT3fsError(error)
      this.host.send({ id: req.id, ok: false, code: e.code, message: e.message })
    }
    try {
      switch (req.op) {
        case 'register-region': return this.host.send({ id: req.id, ok: true, ...this.registerRegion(req.name) })
        case 'create-region': return this.createRegion(req.id, req.sizeBytes)
        case 'create-ring': return this.host.send({ id: req.id, ok: true, ...this.createRing(req.entries) })
        case 'mapped': {
          const memory = this.unmapped.get(req.object)
          if (memory === undefined) throw new T3fsError('ERR_USRBIO_REQUEST', `mapped: object ${req.object} is no region or ring this connection created and has not mapped yet`)
          memory.release()
          this.unmapped.delete(req.object)
          return this.host.send({ id: req.id, ok: true })
        }
        case 'unregister-region':
          this.unmapped.get(req.region)?.release()
          this.unmapped.delete(req.region)
          if (!this.dropRegion(req.region)) throw new T3fsError('ERR_USRBIO_REGION', `unregister-region: region ${req.region} is not registered on this connection`)
          return this.host.send({ id: req.id, ok: true })
        case 'register-ring': return this.host.send({ id: req.id, ok: true, ...this.registerRing(req.name) })
        case 'open': return this.open(req, fail)
        case 'close': return this.close(req.id, req.fd, fail)
      }
    } catch (error) {
      fail(error)
    }
  }

  private registerRegion(name: string): { region: number; sizeBytes: number } {
    checkShmName('register-region: name', name)
    const region = this.nextRegionId()
    const bytes = new Uint8Array(this.mapNamed('register-region', name))
    // Not registered with the node's regions: the client could shrink its own file under a push.
    this.regions.set(region, { name, bytes, handle: null, inFlight: 0, dropped: false })
    return { region, sizeBytes: bytes.length }
  }

  private nextRegionId(): number {
    if (this.regions.size >= this.host.limits.maxRegions) throw new T3fsError('ERR_USRBIO_LIMIT', `this connection has ${this.regions.size} regions, the most the server allows (max_regions)`)
    if (this.nextId > 0xffff) throw new T3fsError('ERR_USRBIO_LIMIT', 'region ids ran out on this connection (65535); reconnect')
    return this.nextId++
  }

  /**
   * Makes the region and, where the node serves regions, registers it there before answering, so
   * every read into it is pushed straight in by the replicas (no copy here); a registration that
   * fails leaves reads on the copying path.
   */
  private createRegion(id: number, sizeBytes: number): void {
    const region = this.nextRegionId()
    const memory = this.sealed('create-region', sizeBytes)
    const record: Region = { name: memory.path, bytes: new Uint8Array(memory.buffer), handle: null, inFlight: 0, dropped: false }
    this.regions.set(region, record)
    this.unmapped.set(region, memory)
    const answer = (): void => this.host.send({ id, ok: true, region, sizeBytes, path: memory.path })
    if (this.host.registerShared === undefined) return answer()
    this.host.track(this.host.registerShared(memory.path), (o) => {
      if (o.ok) record.handle = o.value
      if (record.dropped) return this.unregisterHandle(record) // the connection ended meanwhile
      answer()
    })
  }

  /** Forgets a region; its node registration goes once no I/O into it is in flight. */
  private dropRegion(id: number): boolean {
    const record = this.regions.get(id)
    if (record === undefined) return false
    this.regions.delete(id)
    record.dropped = true
    this.unregisterHandle(record)
    return true
  }

  private unregisterHandle(record: Region): void {
    if (record.handle === null || record.inFlight > 0) return
    this.host.unregisterRegion?.(record.handle)
    record.handle = null
  }

  private createRing(entries: number): { ring: number; entries: number; path: string } {
    if (this.rings.size >= this.host.limits.maxRings) throw new T3fsError('ERR_USRBIO_LIMIT', `create-ring: this connection has ${this.rings.size} rings, the most the server allows (max_rings)`)
    const memory = this.sealed('create-ring', ringBytes(entries))
    const ring: Ring = { id: this.nextId++, view: RingView.format(memory.buffer, entries), inFlight: 0 }
    this.rings.set(ring.id, ring)
    this.unmapped.set(ring.id, memory)
    return { ring: ring.id, entries, path: memory.path }
  }

  private sealed(op: string, sizeBytes: number): SealedSharedMemory {
    if (this.unmapped.size >= maxUnmapped) throw new T3fsError('ERR_USRBIO_LIMIT', `${op}: this connection has ${this.unmapped.size} regions or rings it has not said "mapped" for; map them (and send mapped) first`)
    try {
      return this.host.createSealed(sizeBytes)
    } catch (error) {
      const e = toT3fsError(error)
      throw new T3fsError('ERR_USRBIO_REGION', `${op}: cannot make ${sizeBytes} bytes of shared memory: ${e.message}`, { sizeBytes, cause: e.code })
    }
  }

  private registerRing(name: string): { ring: number; entries: number } {
    checkShmName('register-ring: name', name)
    if (this.rings.size >= this.host.limits.maxRings) throw new T3fsError('ERR_USRBIO_LIMIT', `register-ring: this connection has ${this.rings.size} rings, the most the server allows (max_rings)`)
    const buffer = this.mapNamed('register-ring', name)
    const why = RingView.invalid(buffer)
    if (why !== null) throw new T3fsError('ERR_USRBIO_RING', `register-ring: ${SHM_DIR}/${name} is not a t3fs ring: ${why}`, { name })
    const ring: Ring = { id: this.nextId++, view: new RingView(buffer), inFlight: 0 }
    this.rings.set(ring.id, ring)
    return { ring: ring.id, entries: ring.view.entries }
  }

  private mapNamed(op: string, name: string): ArrayBuffer {
    try {
      return this.host.map(`${SHM_DIR}/${name}`)
    } catch (error) {
      const e = toT3fsError(error)
      throw new T3fsError('ERR_USRBIO_REGION', `${op}: cannot map ${SHM_DIR}/${name}: ${e.message}`, { name, cause: e.code })
    }
  }

  private open(req: Extract<UsrbioRequest, { op: 'open' }>, fail: (e: unknown) => void): void {
    if (this.files.size >= this.host.limits.maxOpenFiles) throw new T3fsError('ERR_USRBIO_LIMIT', `open: this connection has ${this.files.size} files open, the most the server allows (max_open_files)`)
    const write = req.write === true
    const work = (async () => {
      const handle = await this.host.fs.open(req.path, { access: write ? 'readwrite' : 'read', create: req.create === true, trunc: req.trunc === true, direct: true })
      const st = await this.host.fs.fstat(handle)
      return { handle, sizeBytes: st.sizeBytes, mtimeMs: st.mtimeMs }
    })()
    this.host.track(work, (o) => {
      if (!o.ok) return fail(o.error)
      if (this.closed) return void this.host.fs.close(o.value.handle).catch(() => {})
      const fd = this.nextId++
      this.files.set(fd, { handle: o.value.handle, write })
      this.host.send({ id: req.id, ok: true, fd, sizeBytes: o.value.sizeBytes, mtimeMs: o.value.mtimeMs })
    })
  }

  private close(id: number, fd: number, fail: (e: unknown) => void): void {
    const file = this.files.get(fd)
    if (file === undefined) throw new T3fsError('ERR_USRBIO_FD', `close: fd ${fd} is not open on this connection`)
    this.files.delete(fd)
    this.host.track(this.host.fs.close(file.handle), (o) => (o.ok ? this.host.send({ id, ok: true }) : fail(o.error)))
  }

  /**
   * Takes SQEs while the CQ and the server have room, and starts their I/O. With nothing in flight
   * and the SQ empty it raises sqNeedWake (then looks once more, so an SQE stored meanwhile is not
   * left waiting for a doorbell the client saw no reason to ring).
   */
  submit(ringId: number): void {
    const ring = this.rings.get(ringId)
    if (ring === undefined || this.closed) return
    const v = ring.view
    for (;;) {
      v.store(OFF_SQ_NEED_WAKE, 0)
      let head = v.load(OFF_SQ_HEAD)
      const tail = v.load(OFF_SQ_TAIL)
      const cqUsed = (v.load(OFF_CQ_TAIL) - v.load(OFF_CQ_HEAD)) >>> 0
      const queued = (tail - head) >>> 0
      let room = Math.min(v.entries - cqUsed - ring.inFlight, queued)
      while (room-- > 0 && this.host.inFlight.count < this.host.limits.maxInFlight) {
        const index = head
        const sqe = v.readSqe(index)
        head = (head + 1) >>> 0
        v.store(OFF_SQ_HEAD, head)
        ring.inFlight++
        this.host.inFlight.count++
        this.start(ring, index, sqe)
      }
      // In flight: its completions drain the ring again. Stopped for room: the client's reap rings.
      if (ring.inFlight > 0 || head !== tail) return
      v.store(OFF_SQ_NEED_WAKE, 1)
      if (v.load(OFF_SQ_TAIL) === head) return
    }
  }

  private start(ring: Ring, index: number, sqe: Sqe): void {
    let work: Promise<number>
    const region = this.regions.get(sqe.region)
    if (region !== undefined) region.inFlight++
    try {
      work = this.io(sqe, region)
    } catch (error) {
      work = Promise.reject(error)
    }
    this.host.track(work, (o) => {
      if (region !== undefined && --region.inFlight === 0 && region.dropped) this.unregisterHandle(region)
      this.complete(ring, index, sqe, o.ok ? o.value : -errnoOf(o.error))
    })
  }

  /** The FileClient call for one SQE, or a throw (EINVAL, EFAULT, EBADF) for a bad one. */
  private io(sqe: Sqe, known: Region | undefined): Promise<number> {
    const bad = (code: string, why: string): never => { throw new T3fsError(code, why) }
    if (sqe.op !== OP_READ && sqe.op !== OP_WRITE) bad('EINVAL', `op ${sqe.op}`)
    const region = known ?? bad('EFAULT', `region ${sqe.region} is not registered`)
    if (sqe.length > MAX_IO_BYTES || sqe.bufOffset + sqe.length > region.bytes.length) bad('EFAULT', `[${sqe.bufOffset}, +${sqe.length}) is outside region ${sqe.region}`)
    const file = this.files.get(sqe.fd) ?? bad('EBADF', `fd ${sqe.fd}`)
    if (sqe.length === 0) return Promise.resolve(0)
    if (sqe.op === OP_READ) {
      if (region.handle === null) return this.host.fs.read(file.handle, region.bytes, sqe.fileOffset, sqe.length, sqe.bufOffset)
      this.host.pushed.reads++
      return this.host.fs.read(file.handle, region.bytes, sqe.fileOffset, sqe.length, sqe.bufOffset, { region: region.handle })
    }
    if (!file.write) bad('EBADF', `fd ${sqe.fd} was opened for reading`)
    return this.host.fs.write(file.handle, region.bytes.subarray(sqe.bufOffset, sqe.bufOffset + sqe.length), sqe.fileOffset)
  }

  private complete(ring: Ring, index: number, sqe: Sqe, result: number): void {
    this.host.inFlight.count--
    if (this.closed || this.rings.get(ring.id) !== ring) return this.host.wakeAll()
    ring.inFlight--
    const v = ring.view
    const tail = v.load(OFF_CQ_TAIL)
    v.writeCqe(tail, { sqIndex: index, result, userdata: sqe.userdata })
    v.store(OFF_CQ_TAIL, (tail + 1) >>> 0)
    // A wake-up only for a client that said it waits, and one per ring per tick at most.
    const ready = (tail + 1 - v.load(OFF_CQ_HEAD)) >>> 0
    if (v.load(OFF_CQ_WAITING) === 1 && ready >= v.load(OFF_CQ_WAKE_MIN) && !this.wakePending.has(ring.id)) {
      v.store(OFF_CQ_WAITING, 0)
      this.wakePending.add(ring.id)
      queueMicrotask(() => {
        this.wakePending.delete(ring.id)
        this.host.send({ ev: 'cq', ring: ring.id })
      })
    }
    this.submit(ring.id)
    this.host.wakeAll()
  }

  /** Counts a malformed request; true (once) when the connection has sent too many and must be closed. */
  rejected(): boolean {
    return ++this.badRequests === maxBadRequests + 1
  }

  /** Cut off for bad requests: what it still sent is ignored. */
  get cutOff(): boolean {
    return this.badRequests > maxBadRequests
  }

  /** Room freed elsewhere: take more SQEs from every ring. */
  resume(): void {
    for (const id of this.rings.keys()) this.submit(id)
  }

  /** The client went away: close its files, forget its regions and rings. */
  end(): void {
    if (this.closed) return
    this.closed = true
    for (const file of this.files.values()) this.host.track(this.host.fs.close(file.handle), () => {})
    this.files.clear()
    for (const memory of this.unmapped.values()) memory.release()
    this.unmapped.clear()
    for (const id of [...this.regions.keys()]) this.dropRegion(id)
    this.rings.clear()
  }
}
