/**
 * Primary election through a lease record in the KV (3FS's SING+MgmtdLease). An mgmtd takes the
 * lease when it is free or expired and extends it while it holds it; its token names one
 * incarnation of the actor, so a restarted mgmtd on the same node is a different holder.
 * A holder believes itself primary only until the lease end it wrote, measured from a time taken
 * before the transaction started, so two believers can never overlap (given one clock source).
 */
import type { ActorAddress } from '../../runtime/address.ts'
import type { Kv } from '../kv/index.ts'
import { encode, keys, readLease } from './store.ts'

export interface LeaseRecord {
  nodeId: number
  /** Where the holder's mgmtd actor lives, so any mgmtd can redirect callers to it. */
  address: ActorAddress | null
  token: string
  leaseStartMs: number
  leaseEndMs: number
}

export function holdsLease(lease: LeaseRecord | undefined, token: string, nowMs: number): boolean {
  return lease !== undefined && lease.token === token && nowMs < lease.leaseEndMs
}

export type LeaseOutcome =
  | { kind: 'primary'; lease: LeaseRecord; acquired: boolean }
  | { kind: 'standby'; holder: LeaseRecord | null }

/** What to do with the stored lease at `nowMs`: take or extend it, or stay standby. Pure. */
export function decideLease(stored: LeaseRecord | undefined, me: { nodeId: number; token: string; address: ActorAddress | null }, nowMs: number, leaseLengthMs: number): LeaseOutcome {
  const free = stored === undefined || nowMs >= stored.leaseEndMs
  if (!free && stored.token !== me.token) return { kind: 'standby', holder: stored }
  const acquired = free || stored.token !== me.token
  return {
    kind: 'primary',
    acquired,
    lease: { nodeId: me.nodeId, address: me.address, token: me.token, leaseStartMs: acquired ? nowMs : stored.leaseStartMs, leaseEndMs: nowMs + leaseLengthMs },
  }
}

/** One extend-lease round: a transaction that takes, extends or leaves the lease. */
export async function extendLease(kv: Kv, me: { nodeId: number; token: string; address: ActorAddress | null }, nowMs: () => number, leaseLengthMs: number): Promise<LeaseOutcome> {
  const startedMs = nowMs()
  return kv.transact(async (tx) => {
    const outcome = decideLease(await readLease(tx), me, startedMs, leaseLengthMs)
    if (outcome.kind === 'primary') tx.set(keys.lease, encode(outcome.lease))
    return outcome
  })
}

/** Gives the lease up (clean shutdown), so a standby need not wait for it to expire. */
export async function releaseLease(kv: Kv, token: string): Promise<void> {
  await kv.transact(async (tx) => {
    const stored = await readLease(tx)
    if (stored !== undefined && stored.token === token) tx.clear(keys.lease)
  })
}
