import type { Clock, TimerHandle } from '../clock.ts'

interface Timer {
  readonly atMs: number
  readonly seq: number
  readonly callback: () => void
  cancelled: boolean
}

/**
 * Time that moves only when told to: timers fire in (time, creation order), so a run is a pure
 * function of its inputs and seed. The simulator's whole event queue lives here.
 */
export class VirtualClock implements Clock {
  private nowMs: number
  private seq = 0
  private readonly heap: Timer[] = []

  constructor(startMs = 0) {
    this.nowMs = startMs
  }

  now(): number {
    return this.nowMs
  }

  setTimer(delayMs: number, callback: () => void): TimerHandle {
    const timer: Timer = { atMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, callback, cancelled: false }
    this.push(timer)
    return { cancel: () => { timer.cancelled = true } }
  }

  /** When the next live timer fires, or null when none is set. */
  nextAtMs(): number | null {
    this.dropCancelled()
    return this.heap.length === 0 ? null : this.heap[0].atMs
  }

  get pendingTimers(): number {
    return this.heap.filter((timer) => !timer.cancelled).length
  }

  /** Fires the earliest timer (moving time to it); false when none is set. */
  fireNext(): boolean {
    this.dropCancelled()
    const timer = this.pop()
    if (timer === undefined) return false
    this.nowMs = Math.max(this.nowMs, timer.atMs)
    timer.callback()
    return true
  }

  /** Moves time forward to `targetMs` without firing anything due later. */
  advanceTo(targetMs: number): void {
    if (targetMs > this.nowMs) this.nowMs = targetMs
  }

  private dropCancelled(): void {
    while (this.heap.length > 0 && this.heap[0].cancelled) this.pop()
  }

  private before(a: Timer, b: Timer): boolean {
    return a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)
  }

  private push(timer: Timer): void {
    const heap = this.heap
    heap.push(timer)
    for (let i = heap.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1
      if (!this.before(heap[i], heap[parent])) break
      ;[heap[i], heap[parent]] = [heap[parent], heap[i]]
      i = parent
    }
  }

  private pop(): Timer | undefined {
    const heap = this.heap
    if (heap.length === 0) return undefined
    const top = heap[0]
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      for (let i = 0; ; ) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && this.before(heap[left], heap[smallest])) smallest = left
        if (right < heap.length && this.before(heap[right], heap[smallest])) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest], heap[i]]
        i = smallest
      }
    }
    return top
  }
}

/** Lets every queued microtask (and the chains they start) run. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Runs virtual time until `promise` settles: lets its microtasks run, then fires the next timer,
 * and so on. Fails when no timer is left and it is still unsettled (it waits on something that
 * is not the clock), or after `maxSteps`.
 */
export async function drive<T>(clock: VirtualClock, promise: Promise<T>, maxSteps = 5_000_000): Promise<T> {
  let settled = false
  promise.then(() => { settled = true }, () => { settled = true })
  for (let step = 0; !settled; step++) {
    await flushMicrotasks()
    if (settled) break
    if (step > maxSteps) throw new Error(`still unsettled after ${maxSteps} steps`)
    if (!clock.fireNext()) {
      await flushMicrotasks()
      if (!settled) throw new Error('stuck: no timer left and the operation never settled')
    }
  }
  return promise
}
