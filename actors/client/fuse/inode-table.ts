/**
 * What the kernel holds of this mount: for each node id it looked up, how many lookups it has not
 * yet forgotten, the names it reached it by, and the attributes it was last told. FORGET and
 * BATCH_FORGET take lookups back; LINK finds a path to an inode here (meta links by path); the
 * revalidator walks it to tell the kernel about changes other clients made.
 *
 * Bounded: past `entriesMax` the least recently looked-up node is dropped from the table (the
 * kernel then only sees its changes once its attribute and entry timeouts expire), and a node
 * keeps at most NAMES_PER_NODE names (hard links beyond are not revalidated by name).
 */
import type { InodeType } from '../file-client.ts'

export const NAMES_PER_NODE = 4

export interface NameRef {
  readonly parent: bigint
  readonly name: string
}

/** What changes when another client changes an inode (length, times, ownership, mode, links). */
export interface AttrSnapshot {
  readonly type: InodeType
  readonly sizeBytes: number
  readonly mtimeMs: number
  readonly ctimeMs: number
  readonly perm: number
  readonly uid: number
  readonly gid: number
  readonly nlink: number
}

export function sameAttrs(a: AttrSnapshot, b: AttrSnapshot): boolean {
  return a.type === b.type && a.sizeBytes === b.sizeBytes && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.perm === b.perm &&
    a.uid === b.uid && a.gid === b.gid && a.nlink === b.nlink
}

interface Known {
  lookups: bigint
  names: NameRef[]
  attrs: AttrSnapshot
  /** Written through this mount since the revalidator last looked: the kernel's pages are ours. */
  ownData: boolean
}

/** One node of a revalidation batch. */
export interface KnownNode {
  readonly nodeid: bigint
  readonly names: readonly NameRef[]
  readonly attrs: AttrSnapshot
  readonly ownData: boolean
}

export class InodeTable {
  readonly #nodes = new Map<bigint, Known>()
  #cursor: Iterator<[bigint, Known]> | null = null

  constructor(private readonly entriesMax: number) {}

  get size(): number {
    return this.#nodes.size
  }

  /** The kernel got an entry for `nodeid` under (parent, name): one more lookup to forget. */
  lookedUp(nodeid: bigint, ref: NameRef, attrs: AttrSnapshot): void {
    const known = this.#nodes.get(nodeid)
    if (known === undefined) {
      this.#nodes.set(nodeid, { lookups: 1n, names: [ref], attrs, ownData: false })
      if (this.#nodes.size > this.entriesMax) this.#nodes.delete(this.#nodes.keys().next().value!)
      return
    }
    known.lookups++
    known.attrs = attrs
    if (!known.names.some((n) => n.parent === ref.parent && n.name === ref.name)) {
      known.names.push(ref)
      if (known.names.length > NAMES_PER_NODE) known.names.shift()
    }
    // Most recently looked up last: eviction takes the first.
    this.#nodes.delete(nodeid)
    this.#nodes.set(nodeid, known)
  }

  /** The kernel was told these attributes (GETATTR, SETATTR, a revalidation). */
  sawAttrs(nodeid: bigint, attrs: AttrSnapshot): void {
    const known = this.#nodes.get(nodeid)
    if (known !== undefined) known.attrs = attrs
  }

  /**
   * The kernel wrote data of `nodeid` through this mount: its page cache holds what was written,
   * so the length and mtime that moved with it are no reason to drop those pages.
   */
  wroteData(nodeid: bigint): void {
    const known = this.#nodes.get(nodeid)
    if (known !== undefined) known.ownData = true
  }

  /** The revalidator compared `nodeid` with meta and told the kernel what differed. */
  revalidated(nodeid: bigint, attrs: AttrSnapshot): void {
    const known = this.#nodes.get(nodeid)
    if (known === undefined) return
    known.attrs = attrs
    known.ownData = false
  }

  attrsOf(nodeid: bigint): AttrSnapshot | undefined {
    return this.#nodes.get(nodeid)?.attrs
  }

  forget(nodeid: bigint, nlookup: bigint): void {
    const known = this.#nodes.get(nodeid)
    if (known === undefined) return
    known.lookups -= nlookup
    if (known.lookups <= 0n) this.#nodes.delete(nodeid)
  }

  /** A name the kernel reached `nodeid` by (for LINK, which meta does by path). */
  nameOf(nodeid: bigint): NameRef | undefined {
    return this.#nodes.get(nodeid)?.names.at(-1)
  }

  namesOf(nodeid: bigint): readonly NameRef[] {
    return this.#nodes.get(nodeid)?.names ?? []
  }

  /** (parent, name) no longer leads to `nodeid` (unlinked, renamed away, found stale). */
  dropName(nodeid: bigint, parent: bigint, name: string): void {
    const known = this.#nodes.get(nodeid)
    if (known !== undefined) known.names = known.names.filter((n) => n.parent !== parent || n.name !== name)
  }

  /**
   * The next `count` nodes in turn (round robin over the table, so every node is checked once
   * per pass however the table changes meanwhile).
   */
  nextBatch(count: number): KnownNode[] {
    const out: KnownNode[] = []
    let restarted = false
    while (out.length < count && this.#nodes.size > 0) {
      this.#cursor ??= this.#nodes.entries()
      const next = this.#cursor.next()
      if (next.done === true) {
        this.#cursor = null
        if (restarted) break
        restarted = true
        continue
      }
      const [nodeid, known] = next.value
      if (out.some((o) => o.nodeid === nodeid)) break
      out.push({ nodeid, names: known.names, attrs: known.attrs, ownData: known.ownData })
    }
    return out
  }
}
