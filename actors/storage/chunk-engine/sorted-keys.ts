/**
 * A sorted set of strings (chunk ids of one chain) with range scans both ways: the order the index
 * needs for "all chunks of a file" and "the last chunk of a file". Buckets of at most `bucketMax`
 * sorted keys, kept in order: an insert or delete is a binary search plus a splice in one bucket
 * (O(log n + bucketMax)), far cheaper than one sorted array once a chain holds a million chunks.
 */

/** Keys per bucket at most; a fuller bucket splits in two. */
export const bucketMax = 512

export class SortedKeys {
  private buckets: string[][] = []
  private count = 0

  get size(): number {
    return this.count
  }

  has(key: string): boolean {
    const bucket = this.buckets[this.bucketFor(key)]
    return bucket !== undefined && bucket[lowerBound(bucket, key)] === key
  }

  /** Adds `key`; false when it was there. */
  insert(key: string): boolean {
    if (this.buckets.length === 0) {
      this.buckets.push([key])
      this.count++
      return true
    }
    const b = Math.min(this.bucketFor(key), this.buckets.length - 1)
    const bucket = this.buckets[b]
    const at = lowerBound(bucket, key)
    if (bucket[at] === key) return false
    bucket.splice(at, 0, key)
    this.count++
    if (bucket.length > bucketMax) this.buckets.splice(b, 1, bucket.slice(0, bucket.length >> 1), bucket.slice(bucket.length >> 1))
    return true
  }

  /** Removes `key`; false when it was not there. */
  delete(key: string): boolean {
    const b = this.bucketFor(key)
    const bucket = this.buckets[b]
    if (bucket === undefined) return false
    const at = lowerBound(bucket, key)
    if (bucket[at] !== key) return false
    bucket.splice(at, 1)
    this.count--
    if (bucket.length === 0) this.buckets.splice(b, 1)
    return true
  }

  /** Keys k with from ≤ k < to (or from < k with `fromExclusive`), ascending; either bound may be absent. */
  *ascending(from?: string, to?: string, fromExclusive = false): Generator<string> {
    let b = from === undefined ? 0 : this.bucketFor(from)
    let i = from === undefined || this.buckets[b] === undefined ? 0 : lowerBound(this.buckets[b], from)
    for (; b < this.buckets.length; b++, i = 0) {
      const bucket = this.buckets[b]
      for (; i < bucket.length; i++) {
        const key = bucket[i]
        if (to !== undefined && key >= to) return
        if (fromExclusive && key === from) continue
        yield key
      }
    }
  }

  /** Keys k with from ≤ k < to, descending (greatest first); either bound may be absent. */
  *descending(from?: string, to?: string): Generator<string> {
    let b = to === undefined ? this.buckets.length - 1 : Math.min(this.bucketFor(to), this.buckets.length - 1)
    let i = b < 0 ? -1 : to === undefined ? this.buckets[b].length - 1 : lowerBound(this.buckets[b], to) - 1
    for (; b >= 0; b--, i = b >= 0 ? this.buckets[b].length - 1 : -1) {
      const bucket = this.buckets[b]
      for (; i >= 0; i--) {
        const key = bucket[i]
        if (from !== undefined && key < from) return
        yield key
      }
    }
  }

  /** The bucket that holds or would hold `key`: the first whose last key is ≥ it (length when none). */
  private bucketFor(key: string): number {
    let lo = 0
    let hi = this.buckets.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      const bucket = this.buckets[mid]
      if (bucket[bucket.length - 1] < key) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** The first index whose key is ≥ `key`. */
function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (sorted[mid] < key) lo = mid + 1
    else hi = mid
  }
  return lo
}
