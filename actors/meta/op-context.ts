/**
 * What one meta operation runs with inside its transaction: the transaction, the view its path
 * walks read through (the transaction itself for operations that write, so a concurrent rename or
 * removal of any directory on the path makes them retry and stay linearizable; the snapshot for
 * read-only ones, which never conflict anyway), the caller, the time, and the server's services.
 */
import type { ReadView, Transaction } from '../kv/index.ts'
import type { InodeId } from './inode.ts'
import type { ChainTableView } from './layout.ts'
import type { UserInfo } from './protocol.ts'
import type { MetaConfig } from './config.ts'

/** Deliberate bugs the namespace simulation (`npm run sim -- meta`) must catch (never set outside the simulations). */
export type NamespaceMutant = 'rename-no-loop-check' | 'remove-nonempty-dir' | 'retry-not-idempotent' | 'walk-cache-ignores-version'
export const NAMESPACE_MUTANTS: readonly NamespaceMutant[] = ['rename-no-loop-check', 'remove-nonempty-dir', 'retry-not-idempotent', 'walk-cache-ignores-version']
/**
 * Deliberate bugs of meta's storage calls the meta+storage simulation (`npm run sim -- meta-storage`)
 * must catch: GC removes the chunks of the first chain of the layout only; the exact length asks
 * the first chain only; truncate changes the inode without cutting the chunks.
 */
export type StorageCallMutant = 'gc-first-chain-only' | 'length-first-chain-only' | 'truncate-skips-chunks'
export const STORAGE_CALL_MUTANTS: readonly StorageCallMutant[] = ['gc-first-chain-only', 'length-first-chain-only', 'truncate-skips-chunks']
export type Mutant = NamespaceMutant | StorageCallMutant
export const MUTANTS: readonly Mutant[] = [...NAMESPACE_MUTANTS, ...STORAGE_CALL_MUTANTS]

/** Server-side services an operation may use (the meta actor provides them). */
export interface ServerServices {
  readonly serverId: number
  readonly config: MetaConfig
  /** The GC directory this server files removed inodes under. */
  readonly gcDirectory: InodeId
  /** A fresh inode id (from the server's pre-fetched range). */
  allocateInodeId(): InodeId
  /** The latest version of a chain table, or null when mgmtd has not told us of it. */
  chainTable(tableId: number): ChainTableView | null
  /** Fetches routing from mgmtd now (a create named a chain table this server has not heard of yet). */
  refreshRouting(): Promise<void>
  /** The next round-robin counter for (table, stripe), advanced by the stripe (ChainAllocator). */
  nextChainCounter(tableId: number, stripeSize: number): number
  /** A random u32 (layout seeds). */
  randomU32(): number
  readonly mutants: ReadonlySet<Mutant>
}

export interface OpContext {
  readonly tx: Transaction
  /** Where path walks and checks read: `tx` (conflicts) or `tx.snapshot`. */
  readonly reads: ReadView
  readonly user: UserInfo
  readonly clientId: string
  readonly requestId: string
  readonly nowMs: number
  readonly server: ServerServices
}

export function opContext(tx: Transaction, writes: boolean, base: Omit<OpContext, 'tx' | 'reads'>): OpContext {
  // Named fields, not a spread: one context per request (two per batched create), and a spread of
  // a non-literal object is a slow generic copy in V8.
  return { tx, reads: writes ? tx : tx.snapshot, user: base.user, clientId: base.clientId, requestId: base.requestId, nowMs: base.nowMs, server: base.server }
}
