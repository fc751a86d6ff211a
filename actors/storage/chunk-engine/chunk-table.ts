/**
 * The chunks in memory, per chain: a map for lookups and a sorted set of ids for range scans (all
 * chunks of a file, the last chunk of a file, a whole chain for sync). Every change of a version
 * slot goes through `set`, which keeps the block references right (BlockRefs) and forgets a chunk
 * once nothing of it is left.
 */
import type { ChunkId } from '../chunk-id.ts'
import type { BlockRefs } from './block-refs.ts'
import { SortedKeys } from './sorted-keys.ts'
import type { ChunkState, StoredVersion } from './stored-version.ts'

interface Chain {
  readonly chunks: Map<ChunkId, ChunkState>
  readonly order: SortedKeys
  /** Chunks with a committed or pending version (what `ascending` yields), kept as slots change. */
  live: number
}

const isLive = (state: ChunkState): boolean => state.committed !== null || state.pending !== null

export type Slot = 'committed' | 'pending' | 'loggedPending'

export class ChunkTable {
  private readonly chains = new Map<number, Chain>()

  constructor(private readonly refs: BlockRefs) {}

  get(chainId: number, chunkId: ChunkId): ChunkState | undefined {
    return this.chains.get(chainId)?.chunks.get(chunkId)
  }

  getOrCreate(chainId: number, chunkId: ChunkId): ChunkState {
    let chain = this.chains.get(chainId)
    if (chain === undefined) {
      chain = { chunks: new Map(), order: new SortedKeys(), live: 0 }
      this.chains.set(chainId, chain)
    }
    let state = chain.chunks.get(chunkId)
    if (state === undefined) {
      state = { chainId, chunkId, committed: null, pending: null, loggedPending: null }
      chain.chunks.set(chunkId, state)
      chain.order.insert(chunkId)
    }
    return state
  }

  /** Points `slot` of the chunk at `version` (holding its block, dropping the old one's). */
  set(chainId: number, chunkId: ChunkId, slot: Slot, version: StoredVersion | null): void {
    const state = version === null ? this.get(chainId, chunkId) : this.getOrCreate(chainId, chunkId)
    if (state === undefined) return
    const old = state[slot]
    if (old === version) return
    if (version !== null) this.refs.hold(version.block, chainId)
    const wasLive = isLive(state)
    state[slot] = version
    const live = isLive(state)
    if (live !== wasLive) this.chains.get(chainId)!.live += live ? 1 : -1
    if (old !== null) this.refs.drop(old.block)
    if (state.committed === null && state.pending === null && state.loggedPending === null) this.forget(state)
  }

  /** The chain's chunks with a committed or pending version, in id order within the bounds. */
  *ascending(chainId: number, from?: ChunkId, to?: ChunkId, fromExclusive = false): Generator<ChunkState> {
    const chain = this.chains.get(chainId)
    if (chain === undefined) return
    for (const id of chain.order.ascending(from, to, fromExclusive)) {
      const state = chain.chunks.get(id as ChunkId)!
      if (state.committed !== null || state.pending !== null) yield state
    }
  }

  /** Like ascending, greatest id first. */
  *descending(chainId: number, from?: ChunkId, to?: ChunkId): Generator<ChunkState> {
    const chain = this.chains.get(chainId)
    if (chain === undefined) return
    for (const id of chain.order.descending(from, to)) {
      const state = chain.chunks.get(id as ChunkId)!
      if (state.committed !== null || state.pending !== null) yield state
    }
  }

  /** How many chunks of the chain `ascending` yields (without walking them). */
  liveCount(chainId: number): number {
    return this.chains.get(chainId)?.live ?? 0
  }

  /** Every chunk state (also those left with only a logged pending version), chain by chain. */
  *all(): Generator<ChunkState> {
    for (const chain of this.chains.values()) yield* chain.chunks.values()
  }

  chainIds(): number[] {
    return [...this.chains.keys()].sort((a, b) => a - b)
  }

  private forget(state: ChunkState): void {
    const chain = this.chains.get(state.chainId)!
    chain.chunks.delete(state.chunkId)
    chain.order.delete(state.chunkId)
    if (chain.chunks.size === 0) this.chains.delete(state.chainId)
  }
}
