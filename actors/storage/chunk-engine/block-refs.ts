/**
 * Who still needs a block. A block is referenced by each slot that points at it — a chunk's
 * committed version, its pending version, the pending version the durable index knows — and by a
 * writer while it fills it; readers pin it while their read is under way. Only when nothing
 * references or pins it does it go back to the allocator. So a block freed by a commit is reused
 * only once that commit is durable (the durable index no longer reaches it), and never under a read.
 */
import type { BlockAllocator } from './block-allocator.ts'
import { blockClass, classBytes, noBlock } from './stored-version.ts'

interface Entry {
  refs: number
  pins: number
  readonly chainId: number
}

/** A pin taken by pin() (null for a version without a block). */
export type Pin = Entry | null

export class BlockRefs {
  private readonly entries = new Map<number, Entry>()
  private readonly chainBytes = new Map<number, number>()

  constructor(private readonly allocator: BlockAllocator) {}

  hold(block: number, chainId: number): void {
    if (block === noBlock) return
    const entry = this.entries.get(block)
    if (entry !== undefined) {
      entry.refs++
      return
    }
    this.entries.set(block, { refs: 1, pins: 0, chainId })
    this.chainBytes.set(chainId, (this.chainBytes.get(chainId) ?? 0) + classBytes(blockClass(block)))
  }

  drop(block: number): void {
    if (block === noBlock) return
    const entry = this.entry(block)
    entry.refs--
    this.maybeFree(block, entry)
  }

  /** Pins `block` for a read; hand what it returns to unpin() (the entry found once per read, not twice). */
  pin(block: number): Pin {
    if (block === noBlock) return null
    const entry = this.entry(block)
    entry.pins++
    return entry
  }

  unpin(block: number, pinned: Pin): void {
    if (pinned === null) return
    pinned.pins--
    this.maybeFree(block, pinned)
  }

  /** Bytes of the blocks the chain's chunks hold. */
  chainUsedBytes(chainId: number): number {
    return this.chainBytes.get(chainId) ?? 0
  }

  /** Blocks referenced or pinned (for the leak checks of tests). */
  get liveBlocks(): number {
    return this.entries.size
  }

  private entry(block: number): Entry {
    const entry = this.entries.get(block)
    if (entry === undefined) throw new Error(`block ${block} is not held`)
    return entry
  }

  private maybeFree(block: number, entry: Entry): void {
    if (entry.refs < 0 || entry.pins < 0) throw new Error(`block ${block}: refs ${entry.refs}, pins ${entry.pins}`)
    if (entry.refs > 0 || entry.pins > 0) return
    this.entries.delete(block)
    const left = (this.chainBytes.get(entry.chainId) ?? 0) - classBytes(blockClass(block))
    if (left === 0) this.chainBytes.delete(entry.chainId)
    else this.chainBytes.set(entry.chainId, left)
    this.allocator.release(block)
  }
}
