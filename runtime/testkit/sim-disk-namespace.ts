/**
 * The simulated namespace: inodes, the directories naming them, and the journal of name changes
 * not yet durable.
 *
 * Each directory keeps its volatile entries (what lookups see) and its durable entries (what a
 * crash starts from). A create, mkdir, rename, unlink or rmdir changes the volatile entries at once
 * and is journaled. Syncing a directory makes durable the journaled operations that touch it, plus
 * (transitively) every earlier one that touches a directory they touch, so that operations on the
 * same names never become durable out of order. Nothing else: unlike ext4, whose journal commits
 * everything before, SimDisk is as strict as POSIX, so a file whose parent was never synced, or a
 * directory whose own parent was never synced, can vanish. A rename is one operation, atomic in
 * both directories, as every journaling filesystem commits it. At a crash the journal survives as
 * a prefix of the order the operations happened in.
 */
import { diskError } from '../disk/disk-path.ts'
import type { Random } from '../random.ts'
import type { SimFileNode } from './sim-disk-file.ts'

export class SimDirNode {
  readonly kind = 'directory' as const
  readonly entries = new Map<string, number>()
  readonly durableEntries = new Map<string, number>()
  openCount = 0

  constructor(readonly id: number, public mtimeMs: number) {}
}

export type SimInode = SimFileNode | SimDirNode

/** One name change: in directory `dir`, `name` now names `inode` (null: no longer exists). */
export interface NamespaceEffect {
  readonly dir: number
  readonly name: string
  readonly inode: number | null
}

interface NamespaceOp {
  readonly dirs: readonly number[]
  readonly effects: readonly NamespaceEffect[]
}

export const rootInode = 1
/**
 * Journaled operations kept before the oldest is committed, as a filesystem's periodic journal
 * commit would (a prefix commit is always something a real journal does).
 */
export const journalOpsMax = 4096

export interface ParentLookup {
  readonly parent: SimDirNode
  readonly name: string
  /** The inode the name has now, if any. */
  readonly id: number | undefined
}

export class SimNamespace {
  readonly nodes = new Map<number, SimInode>()
  private journal: NamespaceOp[] = []
  private nextId = rootInode + 1

  constructor(nowMs: number) {
    this.nodes.set(rootInode, new SimDirNode(rootInode, nowMs))
  }

  get root(): SimDirNode {
    return this.nodes.get(rootInode) as SimDirNode
  }

  get journalLength(): number {
    return this.journal.length
  }

  allocateId(): number {
    return this.nextId++
  }

  /** The node a path names now; ENOENT or ENOTDIR as the kernel's lookup gives them. */
  resolve(segments: readonly string[], path: string): SimInode {
    if (segments.length === 0) return this.root
    const { id } = this.lookupParent(segments, path)
    if (id === undefined) throw diskError('ENOENT', `no such file or directory: ${JSON.stringify(path)}`, { path })
    return this.nodes.get(id)!
  }

  /** The directory that holds the path's last name (which may not exist). */
  lookupParent(segments: readonly string[], path: string): ParentLookup {
    let dir = this.root
    for (let i = 0; i < segments.length - 1; i++) {
      const id = dir.entries.get(segments[i])
      if (id === undefined) throw diskError('ENOENT', `no such directory ${JSON.stringify(segments.slice(0, i + 1).join('/'))} on the way to ${JSON.stringify(path)}`, { path })
      const node = this.nodes.get(id)!
      if (node.kind !== 'directory') throw diskError('ENOTDIR', `${JSON.stringify(segments.slice(0, i + 1).join('/'))} is not a directory (on the way to ${JSON.stringify(path)})`, { path })
      dir = node
    }
    const name = segments[segments.length - 1]
    return { parent: dir, name, id: dir.entries.get(name) }
  }

  /** Adds a node that an operation is about to name. */
  add(node: SimInode): void {
    this.nodes.set(node.id, node)
  }

  /**
   * Applies one operation to the volatile namespace and journals it. `alsoTouches` names other
   * directories the operation changes (a directory moved to a new parent: its '..'). Returns the
   * nodes it left without a name (an unlinked file, a replaced rename target).
   */
  apply(effects: readonly NamespaceEffect[], nowMs: number, alsoTouches: readonly number[] = []): SimInode[] {
    const removed = new Set<number>()
    const named = new Set<number>()
    for (const effect of effects) {
      const dir = this.nodes.get(effect.dir) as SimDirNode
      const before = dir.entries.get(effect.name)
      if (before !== undefined) removed.add(before)
      if (effect.inode === null) dir.entries.delete(effect.name)
      else {
        dir.entries.set(effect.name, effect.inode)
        named.add(effect.inode)
      }
      dir.mtimeMs = nowMs
    }
    const dirs = [...new Set([...effects.map((e) => e.dir), ...alsoTouches])]
    this.journal.push({ dirs, effects })
    if (this.journal.length > journalOpsMax) applyDurable(this.nodes, this.journal.shift()!)
    return [...removed].filter((id) => !named.has(id)).map((id) => this.nodes.get(id)!)
  }

  /** fsync of a directory: returns how many journaled operations became durable. */
  commit(dirId: number): number {
    const needed = new Set<number>([dirId])
    const committed = new Array<boolean>(this.journal.length).fill(false)
    // Backwards: an operation is needed if it touches a needed directory; its directories then
    // become needed for every earlier operation.
    for (let i = this.journal.length - 1; i >= 0; i--) {
      const op = this.journal[i]
      if (!op.dirs.some((d) => needed.has(d))) continue
      committed[i] = true
      for (const d of op.dirs) needed.add(d)
    }
    let count = 0
    const rest: NamespaceOp[] = []
    this.journal.forEach((op, i) => {
      if (committed[i]) {
        applyDurable(this.nodes, op)
        count++
      } else rest.push(op)
    })
    this.journal = rest
    return count
  }

  /** A power loss: a prefix of the journal survives; every directory then reads its durable entries. */
  crash(random: Random): { readonly kept: number; readonly lost: number } {
    const kept = random.int(this.journal.length + 1)
    for (const op of this.journal.slice(0, kept)) applyDurable(this.nodes, op)
    const lost = this.journal.length - kept
    this.journal = []
    for (const node of this.nodes.values()) {
      if (node.kind !== 'directory') continue
      node.entries.clear()
      for (const [name, id] of node.durableEntries) node.entries.set(name, id)
    }
    return { kept, lost }
  }

  /**
   * Forgets nodes nothing can reach any more: not named (volatile or durable, in any directory
   * reachable either way), not in the journal, not open. Returns what it dropped.
   */
  collect(): SimInode[] {
    const marked = new Set<number>([rootInode])
    const work = [rootInode]
    const mark = (id: number): void => {
      if (!marked.has(id)) {
        marked.add(id)
        work.push(id)
      }
    }
    for (const op of this.journal) {
      for (const dir of op.dirs) mark(dir)
      for (const effect of op.effects) if (effect.inode !== null) mark(effect.inode)
    }
    for (const node of this.nodes.values()) if (node.openCount > 0) mark(node.id)
    while (work.length > 0) {
      const node = this.nodes.get(work.pop()!)
      if (node?.kind !== 'directory') continue
      for (const id of node.entries.values()) mark(id)
      for (const id of node.durableEntries.values()) mark(id)
    }
    const dropped: SimInode[] = []
    for (const [id, node] of this.nodes) {
      if (marked.has(id)) continue
      this.nodes.delete(id)
      dropped.push(node)
    }
    return dropped
  }

  /** Every path of one view, parents before children, siblings sorted (for images and tests). */
  walk(view: 'volatile' | 'durable'): { readonly path: string; readonly node: SimInode }[] {
    const out: { path: string; node: SimInode }[] = []
    const seen = new Set<number>()
    const visit = (dir: SimDirNode, prefix: string): void => {
      // A durable view assembled from part of the journal could loop; a walk never does.
      if (seen.has(dir.id)) return
      seen.add(dir.id)
      const entries = view === 'volatile' ? dir.entries : dir.durableEntries
      for (const name of [...entries.keys()].sort(compareNames)) {
        const node = this.nodes.get(entries.get(name)!)!
        const path = prefix === '' ? name : `${prefix}/${name}`
        out.push({ path, node })
        if (node.kind === 'directory') visit(node, path)
      }
    }
    visit(this.root, '')
    return out
  }
}

function applyDurable(nodes: Map<number, SimInode>, op: NamespaceOp): void {
  for (const effect of op.effects) {
    const dir = nodes.get(effect.dir) as SimDirNode
    if (effect.inode === null) dir.durableEntries.delete(effect.name)
    else dir.durableEntries.set(effect.name, effect.inode)
  }
}

/** Directory listings sort by name in UTF-16 code unit order (JavaScript's default sort). */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
