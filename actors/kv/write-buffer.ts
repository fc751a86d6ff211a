/**
 * Read-your-writes overlay of one transaction: what its own buffered writes say about a key,
 * independent of storage. Point writes live in a Map keyed by latin1 strings (which sort like the
 * bytes); cleared ranges are a sorted disjoint list.
 */
import { byteKey, fromByteKey } from './bytes.ts'
import { addLittleEndian } from './mutation.ts'

export type PointState =
  | { readonly kind: 'value'; readonly value: Buffer }
  | { readonly kind: 'cleared' }
  /** Adds on a key whose stored value this transaction has not determined. */
  | { readonly kind: 'atomic'; readonly params: readonly Buffer[] }
  /** A versionstamped value: only known after commit. */
  | { readonly kind: 'unreadable' }

export type Lookup = PointState | { readonly kind: 'none' }

interface StringRange {
  begin: string
  end: string
}

export class WriteBuffer {
  private readonly points = new Map<string, PointState>()
  private sorted: string[] | null = []
  private cleared: StringRange[] = []

  set(key: Buffer, value: Buffer): void {
    this.put(byteKey(key), { kind: 'value', value })
  }

  clear(key: Buffer): void {
    this.put(byteKey(key), { kind: 'cleared' })
  }

  clearRange(begin: Buffer, end: Buffer): void {
    const b = byteKey(begin)
    const e = byteKey(end)
    if (b >= e) return
    for (const k of this.points.keys()) {
      if (k >= b && k < e) {
        this.points.delete(k)
        this.sorted = null
      }
    }
    this.addCleared(b, e)
  }

  add(key: Buffer, param: Buffer): void {
    const k = byteKey(key)
    const state = this.lookupString(k)
    switch (state.kind) {
      case 'value':
        return this.put(k, { kind: 'value', value: addLittleEndian(state.value, param) })
      case 'cleared':
        return this.put(k, { kind: 'value', value: addLittleEndian(undefined, param) })
      case 'atomic':
        return this.put(k, { kind: 'atomic', params: [...state.params, param] })
      case 'unreadable':
        return
      case 'none':
        return this.put(k, { kind: 'atomic', params: [param] })
    }
  }

  markUnreadable(key: Buffer): void {
    this.put(byteKey(key), { kind: 'unreadable' })
  }

  lookup(key: Buffer): Lookup {
    return this.lookupString(byteKey(key))
  }

  /** True when the key (latin1 form) lies inside a range this transaction cleared. */
  isCleared(key: string): boolean {
    let lo = 0
    let hi = this.cleared.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const r = this.cleared[mid]
      if (key < r.begin) hi = mid - 1
      else if (key >= r.end) lo = mid + 1
      else return true
    }
    return false
  }

  /** Point-written keys inside [begin, end), in the requested order, with their states. */
  pointsIn(begin: Buffer, end: Buffer, reverse: boolean): Array<{ key: Buffer; sortKey: string; state: PointState }> {
    const keys = this.sortedKeys()
    const b = byteKey(begin)
    const e = byteKey(end)
    const out: Array<{ key: Buffer; sortKey: string; state: PointState }> = []
    for (let i = lowerBound(keys, b); i < keys.length && keys[i] < e; i++) {
      out.push({ key: fromByteKey(keys[i]), sortKey: keys[i], state: this.points.get(keys[i]) as PointState })
    }
    if (reverse) out.reverse()
    return out
  }

  hasClears(): boolean {
    return this.cleared.length > 0
  }

  private lookupString(k: string): Lookup {
    const state = this.points.get(k)
    if (state !== undefined) return state
    return this.isCleared(k) ? { kind: 'cleared' } : { kind: 'none' }
  }

  private put(k: string, state: PointState): void {
    if (!this.points.has(k)) this.sorted = null
    this.points.set(k, state)
  }

  private sortedKeys(): string[] {
    if (this.sorted === null) this.sorted = [...this.points.keys()].sort()
    return this.sorted
  }

  private addCleared(b: string, e: string): void {
    const merged: StringRange[] = []
    let nb = b
    let ne = e
    for (const r of this.cleared) {
      if (r.end < nb || r.begin > ne) merged.push(r)
      else {
        if (r.begin < nb) nb = r.begin
        if (r.end > ne) ne = r.end
      }
    }
    merged.push({ begin: nb, end: ne })
    merged.sort((x, y) => (x.begin < y.begin ? -1 : x.begin > y.begin ? 1 : 0))
    this.cleared = merged
  }
}

export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid] < key) lo = mid + 1
    else hi = mid
  }
  return lo
}
