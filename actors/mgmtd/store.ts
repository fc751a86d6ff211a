/**
 * mgmtd's persistent state in the KV, under tuple keys (3FS's SING/NODE/CHIT/CHIF/TGIF, §2.3):
 *   ('mgmtd', 'lease')                    LeaseRecord
 *   ('mgmtd', 'cluster')                  ClusterInfo
 *   ('mgmtd', 'routing-version')          number
 *   ('mgmtd', 'node', nodeId)             PersistedNode
 *   ('mgmtd', 'chain', chainId)           ChainInfo
 *   ('mgmtd', 'table', tableId, version)  ChainTable
 *   ('mgmtd', 'target', targetId)         PersistedTarget
 *   ('mgmtd', 'session', clientId)        ClientSession
 *   ('mgmtd', 'replacement', chainId)     Replacement (automatic re-replication under way)
 * Values are JSON. Every write of the primary goes through `writeAsPrimary`, which re-reads the
 * lease inside the same transaction (3FS's validate_lease_on_write), so a deposed primary — or a
 * crashed incarnation still finishing a handler — can never write.
 */
import type { Kv, Transaction } from '../kv/index.ts'
import { pack, tupleRange } from '../kv/index.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { ActorAddress } from '../../runtime/address.ts'
import type { ChainInfo, ChainTable, ClientSession, ClusterInfo, LocalState, NodeStatus, NodeType, Replacement } from './protocol.ts'
import { MgmtdErrorCode } from './protocol.ts'
import { holdsLease, type LeaseRecord } from './lease.ts'

const ROOT = 'mgmtd'
export const keys = {
  lease: pack([ROOT, 'lease']),
  cluster: pack([ROOT, 'cluster']),
  routingVersion: pack([ROOT, 'routing-version']),
  node: (id: number) => pack([ROOT, 'node', id]),
  chain: (id: number) => pack([ROOT, 'chain', id]),
  table: (id: number, version: number) => pack([ROOT, 'table', id, version]),
  target: (id: number) => pack([ROOT, 'target', id]),
  session: (id: string) => pack([ROOT, 'session', id]),
  replacement: (chainId: number) => pack([ROOT, 'replacement', chainId]),
}

export interface PersistedNode {
  nodeId: number
  type: NodeType
  hostname: string
  /** Admin state only; liveness is not persisted (a new primary gives every node a fresh grace period). */
  disabled: boolean
  status?: NodeStatus
  /** The node's TCP listen address, as its last heartbeat reported it (absent in records of older versions). */
  endpoint?: string | null
  /** Its service actors by name, as its last heartbeat reported them. */
  services?: Record<string, ActorAddress>
}

export interface PersistedTarget {
  targetId: number
  chainId: number
  localState: LocalState
  nodeId: number | null
  diskIndex: number | null
  usedSizeBytes: number
  /** Set by offline-target: the target stays OFFLINE until its node restarts (a new incarnation). */
  adminOfflineIncarnation: number | null
  /** Its chain-replica actor, as its node last reported it (absent in records of older versions). */
  address?: ActorAddress | null
}

export interface Snapshot {
  cluster: ClusterInfo | null
  routingVersion: number
  nodes: PersistedNode[]
  chains: ChainInfo[]
  tables: ChainTable[]
  targets: PersistedTarget[]
  sessions: ClientSession[]
  replacements: Replacement[]
}

export const encode = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))
export const decode = <T>(bytes: Buffer | undefined): T | undefined => (bytes === undefined ? undefined : (JSON.parse(bytes.toString()) as T))

async function listOf<T>(tx: Transaction, kind: string): Promise<T[]> {
  const { begin, end } = tupleRange([ROOT, kind])
  return (await tx.getRange(begin, end)).map((kv) => JSON.parse(kv.value.toString()) as T)
}

export async function readLease(tx: Transaction): Promise<LeaseRecord | undefined> {
  return decode<LeaseRecord>(await tx.get(keys.lease))
}

/** Everything mgmtd keeps, read in one transaction (at takeover and after a lost write race). */
export async function loadSnapshot(kv: Kv): Promise<Snapshot> {
  return kv.transact(async (tx) => ({
    cluster: decode<ClusterInfo>(await tx.get(keys.cluster)) ?? null,
    routingVersion: decode<number>(await tx.get(keys.routingVersion)) ?? 0,
    nodes: await listOf<PersistedNode>(tx, 'node'),
    chains: await listOf<ChainInfo>(tx, 'chain'),
    tables: await listOf<ChainTable>(tx, 'table'),
    targets: await listOf<PersistedTarget>(tx, 'target'),
    sessions: await listOf<ClientSession>(tx, 'session'),
    replacements: await listOf<Replacement>(tx, 'replacement'),
  }))
}

/** A chain write that must find the version it was computed from (compare-and-set). */
export interface ChainWrite {
  chain: ChainInfo
  expectedVersion: number | null
}

export interface PrimaryWrites {
  chains?: ChainWrite[]
  nodes?: PersistedNode[]
  removeNodes?: number[]
  targets?: PersistedTarget[]
  removeTargets?: number[]
  tables?: ChainTable[]
  sessions?: ClientSession[]
  removeSessions?: string[]
  replacements?: Replacement[]
  removeReplacements?: number[]
  cluster?: ClusterInfo
  routingVersion?: number
}

/**
 * Writes as the lease holder `token`, checking the lease and every chain's expected version in the
 * same transaction. Throws LEASE_LOST or CHAIN_CONFLICT (the caller then reloads).
 */
export async function writeAsPrimary(kv: Kv, token: string, nowMs: () => number, writes: PrimaryWrites): Promise<void> {
  await kv.transact(async (tx) => {
    const lease = await readLease(tx)
    if (!holdsLease(lease, token, nowMs())) {
      throw new T3fsError(MgmtdErrorCode.LEASE_LOST, `this mgmtd no longer holds the primary lease (holder: ${lease === undefined ? 'none' : `node ${lease.nodeId}`})`, {})
    }
    for (const { chain, expectedVersion } of writes.chains ?? []) {
      const stored = decode<ChainInfo>(await tx.get(keys.chain(chain.chainId)))
      const storedVersion = stored?.chainVersion ?? null
      if (storedVersion !== expectedVersion) {
        throw new T3fsError(MgmtdErrorCode.CHAIN_CONFLICT, `chain ${chain.chainId} is at version ${storedVersion ?? 'none'} in the KV, expected ${expectedVersion ?? 'none'}`, { chainId: chain.chainId })
      }
      tx.set(keys.chain(chain.chainId), encode(chain))
    }
    for (const node of writes.nodes ?? []) tx.set(keys.node(node.nodeId), encode(node))
    for (const id of writes.removeNodes ?? []) tx.clear(keys.node(id))
    for (const target of writes.targets ?? []) tx.set(keys.target(target.targetId), encode(target))
    for (const id of writes.removeTargets ?? []) tx.clear(keys.target(id))
    for (const table of writes.tables ?? []) tx.set(keys.table(table.tableId, table.version), encode(table))
    for (const session of writes.sessions ?? []) tx.set(keys.session(session.clientId), encode(session))
    for (const id of writes.removeSessions ?? []) tx.clear(keys.session(id))
    for (const r of writes.replacements ?? []) tx.set(keys.replacement(r.chainId), encode(r))
    for (const id of writes.removeReplacements ?? []) tx.clear(keys.replacement(id))
    if (writes.cluster !== undefined) tx.set(keys.cluster, encode(writes.cluster))
    if (writes.routingVersion !== undefined) {
      // Routing versions only grow, whoever wrote last.
      const stored = decode<number>(await tx.get(keys.routingVersion)) ?? 0
      tx.set(keys.routingVersion, encode(Math.max(stored, writes.routingVersion)))
    }
  })
}
