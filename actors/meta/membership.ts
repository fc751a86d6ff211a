/**
 * The live meta servers, kept in the KV under META (reference/3fs.md §2.3, Distributor): each
 * server's record (id and actor address), a heartbeat counter per server bumped with a
 * conflict-free atomic add, and a membership version, a versionstamp rewritten whenever a server
 * joins or leaves. A server counts as live while its counter keeps moving, judged on the reader's
 * own clock (no cross-node clock comparison); any live server removes one that stopped for
 * `membershipTimeoutMs`. An owner reads the version inside its batch transaction, with a read
 * conflict: a membership change makes its batch retry under the new view (Distributor::checkOnServer).
 */
import type { ActorAddress } from '../../runtime/address.ts'
import { readInt64le, type Kv, type Transaction } from '../kv/index.ts'
import { metaKey, metaRange, parseMetaKey } from './keys.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export const VERSION_KEY = metaKey('version')
const serverKey = (id: number): Buffer => metaKey('server', id)
const aliveKey = (id: number): Buffer => metaKey('alive', id)

export interface MemberRecord {
  readonly serverId: number
  readonly address: ActorAddress
  readonly startedMs: number
}

export interface MembershipSnapshot {
  /** Hex of the version stamp ('' before any server joined). */
  readonly version: string
  readonly members: readonly MemberRecord[]
  readonly counters: ReadonlyMap<number, bigint>
}

const hex = (b: Buffer | undefined): string => (b === undefined ? '' : b.toString('hex'))

function bumpVersion(tx: Transaction): void {
  tx.setVersionstampedValue(VERSION_KEY, Buffer.alloc(10), 0)
}

export async function join(kv: Kv, record: MemberRecord, timeoutMs: number): Promise<void> {
  await kv.transact(
    (tx) => {
      tx.set(serverKey(record.serverId), encodeValue(record))
      tx.add(aliveKey(record.serverId), 1n)
      bumpVersion(tx)
    },
    { timeoutMs },
  )
}

export async function leave(kv: Kv, serverIds: readonly number[], timeoutMs: number): Promise<void> {
  if (serverIds.length === 0) return
  await kv.transact(
    (tx) => {
      for (const id of serverIds) {
        tx.clear(serverKey(id))
        tx.clear(aliveKey(id))
      }
      bumpVersion(tx)
    },
    { timeoutMs },
  )
}

export async function beat(kv: Kv, serverId: number, timeoutMs: number): Promise<void> {
  await kv.transact((tx) => tx.add(aliveKey(serverId), 1n), { timeoutMs })
}

export async function readMembership(kv: Kv, timeoutMs: number): Promise<MembershipSnapshot> {
  return kv.transact(
    async (tx) => {
      const servers = metaRange('server')
      const alive = metaRange('alive')
      const [version, members, counters] = await Promise.all([tx.snapshot.get(VERSION_KEY), tx.snapshot.getRange(servers.begin, servers.end), tx.snapshot.getRange(alive.begin, alive.end)])
      return {
        version: hex(version),
        members: members.map((kv) => decodeValue<MemberRecord>(kv.value, 'meta server')),
        counters: new Map(counters.map((kv) => [parseMetaKey(kv.key)[1] as number, readInt64le(kv.value)])),
      }
    },
    { timeoutMs },
  )
}

/** Inside an owner's batch: the membership version, read with a conflict. */
export async function versionInTx(tx: Transaction): Promise<string> {
  return hex(await tx.get(VERSION_KEY))
}

/** Who is live, judged by whether each server's counter moved within the timeout on our own clock. */
export class LivenessTracker {
  private readonly seen = new Map<number, { counter: bigint; changedAtMs: number }>()

  constructor(private readonly selfId: number) {}

  observe(snapshot: MembershipSnapshot, nowMs: number): void {
    const ids = new Set(snapshot.members.map((m) => m.serverId))
    for (const id of [...this.seen.keys()]) if (!ids.has(id)) this.seen.delete(id)
    for (const id of ids) {
      const counter = snapshot.counters.get(id) ?? 0n
      const before = this.seen.get(id)
      if (before === undefined || before.counter !== counter) this.seen.set(id, { counter, changedAtMs: nowMs })
    }
  }

  live(nowMs: number, timeoutMs: number): number[] {
    return [...this.seen.entries()].filter(([id, s]) => id === this.selfId || nowMs - s.changedAtMs < timeoutMs).map(([id]) => id).sort((a, b) => a - b)
  }

  dead(nowMs: number, timeoutMs: number): number[] {
    return [...this.seen.entries()].filter(([id, s]) => id !== this.selfId && nowMs - s.changedAtMs >= timeoutMs).map(([id]) => id)
  }
}

