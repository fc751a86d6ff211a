import type { DiskFile } from './disk/disk.ts'

/**
 * One life of an actor, from init to its crash or stop. A restart starts a new epoch; the old
 * one is fenced: the context it handed out refuses to touch the world (its handlers may still be
 * running, awaiting a disk read or an ask), and its resources — pool slots, open files — are taken
 * back once the operations it had in flight have settled, so no slot is reused while the kernel
 * may still be writing into it.
 */
export class ActorEpoch {
  live = true
  private inFlight = 0
  /** Disk and region operations in flight: the kernel or a peer may still write where they point. */
  private ioInFlight = 0
  private ioWaiters: (() => void)[] = []
  private onQuiet: (() => void) | null = null
  /** Files this epoch opened and has not closed: closed for it when it ends. */
  readonly files = new Set<DiskFile>()
  /** Replies this epoch deferred and has not settled: failed for it when it crashes. */
  readonly deferred = new Set<{ fail(error: unknown): void }>()
  /** Regions this epoch registered (by id): unregistered for it before its slots are reclaimed. */
  readonly regions = new Set<number>()
  /** Unregisters a region (set by the context when the node serves regions). */
  unregisterRegion: ((regionId: number) => Promise<void>) | null = null

  constructor(readonly number: number) {}

  /**
   * Counts `work` in flight until it settles; returns it unchanged. `io`: a disk or region
   * operation, which a restart waits for (see whenIoQuiet). Its completion is one of two
   * callbacks made once per epoch, not a closure per operation: under tsx (esbuild's keepNames)
   * every named closure costs an Object.defineProperty when it is made (~0.2 µs), and this runs
   * for every disk read.
   */
  track<T>(work: Promise<T>, io = false): Promise<T> {
    this.inFlight++
    if (io) {
      this.ioInFlight++
      work.then(this.ioDone, this.ioDone)
    } else {
      work.then(this.done, this.done)
    }
    return work
  }

  private readonly done = (): void => {
    this.inFlight--
    if (!this.live && this.inFlight === 0) this.quiesce()
  }

  private readonly ioDone = (): void => {
    if (--this.ioInFlight === 0) {
      const waiters = this.ioWaiters
      this.ioWaiters = []
      for (const wake of waiters) wake()
    }
    this.done()
  }

  /**
   * Resolves once no disk or region operation of this epoch is in flight. A restart waits for it:
   * the next life must not reuse blocks or slots the crashed one is still writing (piped work of
   * other kinds is only dropped, and does not hold the restart back).
   */
  whenIoQuiet(): Promise<void> {
    if (this.ioInFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.ioWaiters.push(resolve))
  }

  /** Fences this epoch; `onQuiet` runs once nothing it started is in flight any more. */
  end(onQuiet: () => void): void {
    if (!this.live) return
    this.live = false
    this.onQuiet = onQuiet
    if (this.inFlight === 0) this.quiesce()
  }

  private quiesce(): void {
    const callback = this.onQuiet
    this.onQuiet = null
    for (const file of this.files) void file.close().catch(() => {})
    this.files.clear()
    const unregister = this.unregisterRegion
    const regions = [...this.regions]
    this.regions.clear()
    if (unregister === null || regions.length === 0) return callback?.()
    // A peer may still be writing into a region: take it away before the slot can be reused.
    void Promise.allSettled(regions.map((id) => unregister(id))).then(() => callback?.())
  }
}
