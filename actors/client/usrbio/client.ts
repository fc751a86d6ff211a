/**
 * `t3fs/usrbio`: batched, zero-copy reads and writes of t3fs files from any Node process on a
 * machine whose t3fs node runs the usrbio actor (3FS's USRBIO: regions are its Iovs, rings its Iors).
 *
 *   import { connectUsrbio } from 't3fs/usrbio'
 *   const io = await connectUsrbio()                       // or { socketPath }
 *   const region = await io.createRegion(64 << 20)          // 64 MiB of shared memory
 *   const ring = await io.createRing(64)
 *   const f = await io.open('/data/x.bin')
 *   for (let i = 0; i < 16; i++) ring.prepRead(region, i << 20, f, i << 20, 1 << 20, i)
 *   ring.submit()
 *   const done = await ring.wait(16)                        // results landed in region.bytes
 *   await io.close()
 *
 * Regions and rings are shared memory the server makes (sizes sealed: no process can shrink them
 * under the server) and this process maps by path; nothing is left behind when either side dies. One submitting and one reaping caller per ring.
 */
import { systemClock, type Clock, type TimerHandle } from '../../../runtime/clock.ts'
import { T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import { connectLocalSocket, type LocalConnection } from '../../../runtime/local-socket.ts'
import { mapSharedFile } from '../../../runtime/shared-memory.ts'
import { constants } from 'node:os'
import { checkEntries, defaultSocketPath, MAX_IO_BYTES, MAX_REGION_BYTES, OFF_CQ_HEAD, OFF_CQ_TAIL, OFF_CQ_WAITING, OFF_CQ_WAKE_MIN, OFF_SQ_HEAD, OFF_SQ_NEED_WAKE, OFF_SQ_TAIL, OP_READ, OP_WRITE, RingView } from './layout.ts'

export { defaultSocketPath }

export interface UsrbioRegion {
  readonly id: number
  readonly name: string
  /** The shared bytes: read results land here, write data is taken from here. */
  readonly bytes: Uint8Array
}

export interface UsrbioFile {
  readonly fd: number
  readonly path: string
  readonly write: boolean
  /** The file's size when it was opened. */
  readonly sizeBytes: number
  /** The file's mtime when it was opened. */
  readonly mtimeMs: number
}

export interface UsrbioCompletion {
  /** The SQE's index (what prep returned). */
  readonly index: number
  readonly userdata: bigint
  /** Bytes moved, or -errno. */
  readonly result: number
  /** The failure as a coded error (code = errno name) when result < 0. */
  readonly error: T3fsError | null
}

/** A waiting ring looks at its CQ this often even without a wake-up (a safety net, not the path). */
const recheckMs = 100
const errnoNames = new Map(Object.entries(constants.errno).map(([name, n]) => [n as number, name]))

export class UsrbioRing {
  private waiters: (() => void)[] = []

  constructor(private readonly client: UsrbioClient, readonly id: number, readonly name: string, private readonly view: RingView) {}

  get entries(): number { return this.view.entries }

  /** SQEs prepared but not yet taken by the server. */
  get queued(): number { return (this.view.load(OFF_SQ_TAIL) - this.view.load(OFF_SQ_HEAD)) >>> 0 }

  /** Queues a read of `length` bytes at `fileOffset` into region.bytes[bufOffset…]; returns the SQE index. */
  prepRead(region: UsrbioRegion, bufOffset: number, file: UsrbioFile, fileOffset: number, length: number, userdata: number | bigint = 0): number {
    return this.prep(OP_READ, region, bufOffset, file, fileOffset, length, userdata)
  }

  /** Queues a write of region.bytes[bufOffset, +length) at `fileOffset`; returns the SQE index. */
  prepWrite(region: UsrbioRegion, bufOffset: number, file: UsrbioFile, fileOffset: number, length: number, userdata: number | bigint = 0): number {
    if (!file.write) throw new T3fsError('ERR_USRBIO_FD', `prepWrite: ${file.path} (fd ${file.fd}) was opened for reading; open it with { write: true }`)
    return this.prep(OP_WRITE, region, bufOffset, file, fileOffset, length, userdata)
  }

  private prep(op: number, region: UsrbioRegion, bufOffset: number, file: UsrbioFile, fileOffset: number, length: number, userdata: number | bigint): number {
    const int = (field: string, v: number, max: number): void => {
      if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new T3fsError('ERR_USRBIO_RANGE', `${field} is ${v}; accepted: an integer from 0 to ${max}`, { field, value: v })
    }
    int('length', length, MAX_IO_BYTES)
    int('bufOffset', bufOffset, region.bytes.length)
    int('fileOffset', fileOffset, Number.MAX_SAFE_INTEGER)
    if (bufOffset + length > region.bytes.length) throw new T3fsError('ERR_USRBIO_RANGE', `[${bufOffset}, ${bufOffset + length}) is outside region ${region.name} of ${region.bytes.length} bytes`, { bufOffset, length, sizeBytes: region.bytes.length })
    const tail = this.view.load(OFF_SQ_TAIL)
    if (((tail - this.view.load(OFF_SQ_HEAD)) >>> 0) >= this.entries) {
      throw new T3fsError('ERR_USRBIO_RING_FULL', `ring ${this.name} has ${this.entries} SQEs the server has not taken yet; submit() and wait() for completions before preparing more`, { entries: this.entries })
    }
    this.view.writeSqe(tail, { op, region: region.id, fd: file.fd, bufOffset, fileOffset, length, userdata: BigInt(userdata) })
    this.view.store(OFF_SQ_TAIL, (tail + 1) >>> 0)
    return tail
  }

  /** Hands the queued SQEs to the server: rings the doorbell when the server is idle (sqNeedWake), else it takes them as its I/Os complete. */
  submit(): void {
    if (this.view.load(OFF_SQ_NEED_WAKE) === 1 && this.queued > 0) this.ring()
  }

  private ring(): void {
    this.client.send({ op: 'submit', ring: this.id })
  }

  /** Reaps completions: resolves once at least `minResults` arrived (all that are ready), or rejects with ERR_USRBIO_TIMEOUT. */
  async wait(minResults = 1, options: { timeoutMs?: number } = {}): Promise<UsrbioCompletion[]> {
    const timeoutMs = options.timeoutMs ?? 60_000
    const clock = this.client.clock
    const deadline = clock.now() + timeoutMs
    const out: UsrbioCompletion[] = []
    for (;;) {
      this.reap(out)
      if (out.length >= minResults) return out
      this.client.checkOpen()
      const left = deadline - clock.now()
      if (left <= 0) throw new T3fsError('ERR_USRBIO_TIMEOUT', `ring ${this.name}: ${out.length} of ${minResults} completions within ${timeoutMs} ms`, { got: out.length, minResults })
      // Say we wait, then look once more: a CQE stored before the flag was seen is reaped here.
      this.view.store(OFF_CQ_WAKE_MIN, minResults - out.length)
      this.view.store(OFF_CQ_WAITING, 1)
      if (this.view.load(OFF_CQ_TAIL) !== this.view.load(OFF_CQ_HEAD)) continue
      await new Promise<void>((resolve) => {
        const timer: TimerHandle = clock.setTimer(Math.min(left, recheckMs), resolve)
        this.waiters.push(() => { timer.cancel(); resolve() })
      })
    }
  }

  private reap(out: UsrbioCompletion[]): void {
    const v = this.view
    let head = v.load(OFF_CQ_HEAD)
    const tail = v.load(OFF_CQ_TAIL)
    if (head === tail) return
    while (head !== tail) {
      const c = v.readCqe(head)
      const name = c.result < 0 ? errnoNames.get(-c.result) ?? `ERRNO_${-c.result}` : null
      out.push({ index: c.sqIndex, userdata: c.userdata, result: c.result, error: name === null ? null : new T3fsError(name, `USRBIO I/O ${c.sqIndex} (userdata ${c.userdata}) failed: ${name}`, { index: c.sqIndex }) })
      head = (head + 1) >>> 0
    }
    v.store(OFF_CQ_HEAD, head)
    // The server stops taking SQEs while the CQ is full: tell it there is room again.
    if (this.queued > 0) this.ring()
  }

  /** @internal the server filled CQEs. */
  wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }
}

export class UsrbioClient {
  private nextRequest = 1
  private readonly pending = new Map<number, { resolve(v: Record<string, unknown>): void; reject(e: T3fsError): void }>()
  private readonly rings = new Map<number, UsrbioRing>()
  private closed: T3fsError | null = null
  private conn!: LocalConnection

  /** `clock`: where ring waits take their time and timeouts (the system clock unless a test drives one). */
  constructor(readonly socketPath: string, readonly clock: Clock = systemClock) {}

  /** @internal */
  async start(): Promise<void> {
    this.conn = await connectLocalSocket(this.socketPath, {
      onMessage: (_c, value) => this.onMessage(value as Record<string, unknown>),
      onClose: () => this.onClose(new T3fsError('ERR_USRBIO_DISCONNECTED', `the usrbio server at ${this.socketPath} closed the connection`)),
    })
  }

  private onMessage(m: Record<string, unknown>): void {
    if (m.ev === 'cq') return this.rings.get(m.ring as number)?.wake()
    const p = this.pending.get(m.id as number)
    if (p === undefined) return
    this.pending.delete(m.id as number)
    if (m.ok === true) p.resolve(m)
    else p.reject(new T3fsError(String(m.code), String(m.message)))
  }

  private onClose(error: T3fsError): void {
    this.closed ??= error
    for (const p of this.pending.values()) p.reject(error)
    this.pending.clear()
    for (const r of this.rings.values()) r.wake()
  }

  /** @internal */
  checkOpen(): void {
    if (this.closed !== null) throw this.closed
  }

  /** @internal */
  send(message: object): void {
    this.checkOpen()
    this.conn.send(message)
  }

  private request(message: Record<string, unknown>): Promise<Record<string, unknown>> {
    this.checkOpen()
    const id = this.nextRequest++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.conn.send({ ...message, id })
    })
  }

  /** A new shared-memory region of `sizeBytes`: the server makes it (its size sealed), this process maps it. */
  async createRegion(sizeBytes: number): Promise<UsrbioRegion> {
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1 || sizeBytes > MAX_REGION_BYTES) throw new T3fsError('ERR_USRBIO_RANGE', `region sizeBytes is ${sizeBytes}; accepted: 1 to ${MAX_REGION_BYTES}`, { sizeBytes })
    const r = await this.request({ op: 'create-region', sizeBytes })
    const buffer = await this.mapServerMemory(r.path as string, r.region as number)
    return { id: r.region as number, name: r.path as string, bytes: new Uint8Array(buffer) }
  }

  /** Maps memory the server made, then lets the server close its descriptor. */
  private async mapServerMemory(path: string, object: number): Promise<ArrayBuffer> {
    const buffer = mapSharedFile(path)
    await this.request({ op: 'mapped', object })
    return buffer
  }

  /** Registers an existing /dev/shm file (made by another library) as a region; the caller maps it itself. */
  async registerRegion(name: string): Promise<{ region: number; sizeBytes: number }> {
    const r = await this.request({ op: 'register-region', name })
    return { region: r.region as number, sizeBytes: r.sizeBytes as number }
  }

  /** A new ring of `entries` SQEs and CQEs (a power of two up to 4096), made by the server and mapped here. */
  async createRing(entries: number): Promise<UsrbioRing> {
    checkEntries(entries)
    const r = await this.request({ op: 'create-ring', entries })
    const view = new RingView(await this.mapServerMemory(r.path as string, r.ring as number))
    const ring = new UsrbioRing(this, r.ring as number, r.path as string, view)
    this.rings.set(ring.id, ring)
    return ring
  }

  /** Opens a t3fs file through the server (ENOENT, EACCES, … as the FileClient says). */
  async open(path: string, options: { write?: boolean; create?: boolean; trunc?: boolean } = {}): Promise<UsrbioFile> {
    const r = await this.request({ op: 'open', path, ...options })
    return { fd: r.fd as number, path, write: options.write === true, sizeBytes: r.sizeBytes as number, mtimeMs: r.mtimeMs as number }
  }

  async closeFile(file: UsrbioFile): Promise<void> {
    await this.request({ op: 'close', fd: file.fd })
  }

  /** Disconnects: the server closes this client's files and forgets its regions and rings. */
  async close(): Promise<void> {
    if (this.closed !== null) return
    this.onClose(new T3fsError('ERR_USRBIO_CLOSED', 'this USRBIO client was closed'))
    this.conn.close()
  }
}

export async function connectUsrbio(options: { socketPath?: string; clock?: Clock } = {}): Promise<UsrbioClient> {
  const client = new UsrbioClient(options.socketPath ?? process.env.T3FS_USRBIO_SOCKET ?? defaultSocketPath, options.clock)
  try {
    await client.start()
  } catch (error) {
    throw toT3fsError(error)
  }
  return client
}
