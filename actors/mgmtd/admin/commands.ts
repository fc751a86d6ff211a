/**
 * `t3fs admin` commands after 3FS's admin_cli (reference/3fs.md §1.6), as functions over an
 * ActorRef to mgmtd: testable in-process, and the same whether the ref is local or remote.
 * Each parses its own arguments (node:util.parseArgs), asks mgmtd, and returns rows or a message;
 * the CLI layer (cli.ts) prints them as a table or JSON and maps errors to exit codes.
 */
import { parseArgs } from 'node:util'
import type { ActorRef, Message } from '../../../runtime/actor.ts'
import type { ActorAddress } from '../../../runtime/address.ts'
import type { Clock } from '../../../runtime/clock.ts'
import type { ProgressSink } from '../../../runtime/progress/progress.ts'
import { isT3fsError, T3fsError } from '../../../runtime/errors.ts'
import { parseSizeBytes, SIZE_ACCEPTED } from '../../../runtime/profile/units.ts'
import { MgmtdErrorCode, NODE_TYPES, type ChainInfo, type MgmtdMsg, type NodeType, type RoutingInfo } from '../protocol.ts'
import { parseChainsCsv, parseChainTableCsv } from './csv.ts'
import type { StorageNodeMsg, TargetSummary } from '../../storage/protocol.ts'

export const USAGE_ERROR = 'ERR_ADMIN_USAGE'

export interface AdminEnv {
  readonly mgmtd: ActorRef<MgmtdMsg>
  readFile(path: string): Promise<string>
  readonly timeoutMs: number
  /** A ref to the mgmtd at `address`, to follow a standby's redirect to the primary (once). */
  redirect?(address: ActorAddress): ActorRef<MgmtdMsg>
  /** A connection to another node at its endpoint (storage commands reach the node's storage service). */
  connectNode?(endpoint: string, nodeId: number): Promise<NodeConnection>
  /** Time for commands that follow long work (wait-sync). */
  readonly clock?: Clock
  /** Where long work (wait-sync) shows its progress (runtime/progress: stderr, redrawn on a terminal). */
  readonly progress?: ProgressSink
}

export interface NodeConnection {
  refFor<M extends Message>(address: ActorAddress): ActorRef<M>
  close(): Promise<void>
}

export type Cell = string | number | null

export type AdminResult =
  | { kind: 'table'; columns: string[]; rows: Cell[][]; json: unknown }
  | { kind: 'message'; text: string; json: unknown }

type ArgSpec = NonNullable<Parameters<typeof parseArgs>[0]>['options']

export interface AdminCommand {
  readonly name: string
  readonly usage: string
  readonly summary: string
  readonly options: ArgSpec
  /** Exact number of positionals, or [min, max]. */
  readonly positionals: readonly [number, number]
  run(positionals: string[], values: Readonly<Record<string, string | boolean | undefined>>, env: AdminEnv): Promise<AdminResult>
}

export function usageError(message: string): T3fsError {
  return new T3fsError(USAGE_ERROR, message, {})
}

/** A positional id: a non-negative integer, or a usage error that names it. */
export function parseId(value: string | undefined, what: string): number {
  if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw usageError(`${what} ${JSON.stringify(value ?? '')} is not accepted; accepted: a non-negative integer`)
  }
  return Number(value)
}

function primaryAddressOf(error: unknown): ActorAddress | null {
  if (!isT3fsError(error) || error.code !== MgmtdErrorCode.NOT_PRIMARY) return null
  const a = error.details.primaryAddress as Partial<ActorAddress> | null | undefined
  return a != null && typeof a.node === 'number' && typeof a.host === 'number' && typeof a.id === 'number' && typeof a.incarnation === 'number'
    ? { node: a.node, host: a.host, id: a.id, incarnation: a.incarnation }
    : null
}

/** Asks mgmtd; a standby's NOT_PRIMARY answer naming the primary's address is followed once. */
async function ask<Q extends MgmtdMsg>(env: AdminEnv, message: Q) {
  try {
    return await env.mgmtd.ask(message, { timeoutMs: env.timeoutMs })
  } catch (error) {
    const address = primaryAddressOf(error)
    if (address === null || env.redirect === undefined) throw error
    return env.redirect(address).ask(message, { timeoutMs: env.timeoutMs })
  }
}

export async function routing(env: AdminEnv): Promise<RoutingInfo> {
  const info = await ask(env, { type: 'get-routing-info' })
  if (info === null) throw new T3fsError('ERR_INTERNAL', 'mgmtd returned no routing info to a request without a version', {})
  return info
}

const chainRow = (c: ChainInfo): Cell[] => [c.chainId, c.chainVersion, c.targets[0]?.publicState === 'SERVING' ? 'SERVING' : 'UNAVAILABLE', c.targets.map((t) => `${t.targetId}(${t.publicState})`).join(' ')]
const CHAIN_COLUMNS = ['ChainId', 'ChainVersion', 'Status', 'Targets']

const message = (text: string, json: unknown): AdminResult => ({ kind: 'message', text, json })

/** Runs `work` against the storage service of node `nodeId` (found in the routing info: its endpoint and service address). */
async function onStorageNode<T>(env: AdminEnv, nodeId: number, work: (storage: ActorRef<StorageNodeMsg>) => Promise<T>): Promise<T> {
  const node = (await routing(env)).nodes.find((n) => n.nodeId === nodeId)
  if (node === undefined) throw new T3fsError(MgmtdErrorCode.NODE_NOT_FOUND, `node ${nodeId} is not known to mgmtd; list-nodes shows the known ones`, { nodeId })
  const address = node.services.storage
  if (node.type !== 'STORAGE' || address === undefined) throw usageError(`node ${nodeId} is a ${node.type} node without a storage service; accepted: the id of a storage node`)
  if (node.endpoint === null) throw new T3fsError('ERR_ADMIN_NO_ENDPOINT', `storage node ${nodeId} has not reported its endpoint (is it heartbeating?)`, { nodeId })
  if (env.connectNode === undefined) throw new T3fsError('ERR_ADMIN_NO_ENDPOINT', 'this admin cannot reach storage nodes (no node connector)', {})
  const connection = await env.connectNode(node.endpoint, nodeId)
  try {
    return await work(connection.refFor<StorageNodeMsg>(address))
  } finally {
    await connection.close().catch(() => {})
  }
}

const TARGET_COLUMNS = ['TargetId', 'ChainId', 'NodeId', 'LocalState', 'PublicState', 'UsedSize', 'Chunks']
const targetRow = (t: TargetSummary): Cell[] => [t.targetId, t.chainId, t.nodeId, t.localState, t.publicState, t.usedSizeBytes, t.chunkCount]

/** A command that names one node and asks mgmtd the message of the same name about it. */
function nodeCommand(name: 'unregister-node' | 'disable-node' | 'enable-node', summary: string, done: string): AdminCommand {
  return {
    name, usage: `${name} <nodeId>`, summary, options: {}, positionals: [1, 1],
    async run([id], _v, env) {
      const node = await ask(env, { type: name, nodeId: parseId(id, 'nodeId') })
      return message(`node ${node.nodeId} (${node.type}) is ${done}`, node)
    },
  }
}

export const COMMANDS: readonly AdminCommand[] = [
  {
    name: 'init-cluster',
    usage: 'init-cluster <chainTableId> <chunkSize> <stripeSize> [--cluster-id ID]',
    summary: 'record the cluster settings (default chain table, chunk size, stripe) in the KV; once',
    options: { 'cluster-id': { type: 'string' } },
    positionals: [3, 3],
    async run([table, chunk, stripe], values, env) {
      const chainTableId = parseId(table, 'chainTableId')
      const chunkSizeBytes = parseSizeBytes(/^\d+$/.test(chunk) ? Number(chunk) : chunk)
      if (chunkSizeBytes === undefined) throw usageError(`chunkSize ${JSON.stringify(chunk)} is not accepted; accepted: ${SIZE_ACCEPTED}`)
      const stripeSize = parseId(stripe, 'stripeSize')
      const clusterId = (values['cluster-id'] as string | undefined) ?? 't3fs'
      const cluster = await ask(env, { type: 'init-cluster', cluster: { clusterId, chainTableId, chunkSizeBytes, stripeSize } })
      return message(`cluster ${cluster.clusterId} initialized: chain table ${cluster.chainTableId}, chunk size ${cluster.chunkSizeBytes} bytes, stripe ${cluster.stripeSize}`, cluster)
    },
  },
  {
    name: 'list-nodes',
    usage: 'list-nodes',
    summary: 'nodes known to mgmtd, with type and heartbeat status',
    options: {},
    positionals: [0, 0],
    async run(_p, _v, env) {
      const { nodes } = await routing(env)
      return { kind: 'table', columns: ['NodeId', 'Type', 'Status', 'Hostname', 'LastHeartbeatMs'], rows: nodes.map((n) => [n.nodeId, n.type, n.status, n.hostname, n.lastHeartbeatMs === 0 ? null : Math.round(n.lastHeartbeatMs)]), json: nodes }
    },
  },
  {
    name: 'register-node',
    usage: 'register-node <nodeId> <type> [--hostname H]',
    summary: `record a node before it heartbeats (type: ${NODE_TYPES.join(' | ')}; needed when mgmtd refuses heartbeats from unregistered nodes)`,
    options: { hostname: { type: 'string' } },
    positionals: [2, 2],
    async run([id, type], values, env) {
      const nodeId = parseId(id, 'nodeId')
      if (nodeId === 0) throw usageError('nodeId 0 means "none"; accepted: a node id >= 1')
      const nodeType = type?.toUpperCase()
      if (!(NODE_TYPES as readonly (string | undefined)[]).includes(nodeType)) throw usageError(`type ${JSON.stringify(type)} is not accepted; accepted: ${NODE_TYPES.join(' | ')} (any case)`)
      const hostname = values.hostname as string | undefined
      const node = await ask(env, { type: 'register-node', nodeId, nodeType: nodeType as NodeType, ...(hostname === undefined ? {} : { hostname }) })
      return message(`node ${node.nodeId} is registered as ${node.type}${node.hostname === '' ? '' : ` on ${node.hostname}`}`, node)
    },
  },
  nodeCommand('unregister-node', 'forget a node (a node that still heartbeats comes back unless mgmtd refuses unregistered ones)', 'unregistered'),
  nodeCommand('disable-node', 'refuse a node\'s heartbeats until enable-node (its targets go OFFLINE as when it dies; list-nodes shows DISABLED)', 'disabled'),
  nodeCommand('enable-node', 'accept a disabled node\'s heartbeats again', 'enabled'),
  {
    name: 'list-targets',
    usage: 'list-targets [--chain-id N]',
    summary: 'targets with their public and local states',
    options: { 'chain-id': { type: 'string' } },
    positionals: [0, 0],
    async run(_p, values, env) {
      const chainId = values['chain-id'] === undefined ? null : parseId(values['chain-id'] as string, '--chain-id')
      const info = await routing(env)
      const targets = info.targets.filter((t) => chainId === null || t.chainId === chainId)
      const spares = chainId === null ? info.orphanTargets : []
      const progress = (p: (typeof targets)[number]['syncProgress']): string | null => (p === null ? null : `${p.doneChunks}/${p.totalChunks} (${p.copiedChunks} copied, ${p.copiedBytes} B)`)
      return {
        kind: 'table',
        columns: ['TargetId', 'ChainId', 'PublicState', 'LocalState', 'NodeId', 'DiskIndex', 'UsedSize', 'SyncProgress'],
        rows: [
          ...targets.map((t) => [t.targetId, t.chainId, t.publicState, t.localState, t.nodeId, t.diskIndex, t.usedSizeBytes, progress(t.syncProgress)]),
          ...spares.map((o) => [o.targetId, null, 'SPARE', o.localState, o.nodeId, o.diskIndex, o.usedSizeBytes, null]),
        ],
        json: [...targets, ...spares.map((o) => ({ ...o, chainId: null, publicState: 'SPARE', syncProgress: null }))],
      }
    },
  },
  {
    name: 'list-chains',
    usage: 'list-chains',
    summary: 'chains with their version and targets, head first',
    options: {},
    positionals: [0, 0],
    async run(_p, _v, env) {
      const { chains } = await routing(env)
      return { kind: 'table', columns: CHAIN_COLUMNS, rows: chains.map(chainRow), json: chains }
    },
  },
  {
    name: 'list-chain-tables',
    usage: 'list-chain-tables [--all-versions]',
    summary: 'chain tables (the latest version of each, or every version)',
    options: { 'all-versions': { type: 'boolean' } },
    positionals: [0, 0],
    async run(_p, values, env) {
      const all = (await routing(env)).chainTables
      const tables = values['all-versions'] === true ? all : all.filter((t) => !all.some((o) => o.tableId === t.tableId && o.version > t.version))
      return { kind: 'table', columns: ['TableId', 'Version', 'Chains', 'Desc'], rows: tables.map((t) => [t.tableId, t.version, t.chains.length, t.desc]), json: tables }
    },
  },
  {
    name: 'upload-chains',
    usage: 'upload-chains <chains.csv>',
    summary: 'create chains from a CSV (ChainId,TargetId,...; head first); new chains start SERVING at version 1',
    options: {},
    positionals: [1, 1],
    async run([file], _v, env) {
      const chains = parseChainsCsv(await env.readFile(file), file)
      const result = await ask(env, { type: 'set-chains', chains })
      return { kind: 'table', columns: CHAIN_COLUMNS, rows: result.map(chainRow), json: result }
    },
  },
  {
    name: 'upload-chain-table',
    usage: 'upload-chain-table <tableId> <chain-table.csv> [--desc TEXT]',
    summary: 'create a new version of a chain table from a CSV (header ChainId, one id per line)',
    options: { desc: { type: 'string' } },
    positionals: [2, 2],
    async run([id, file], values, env) {
      const tableId = parseId(id, 'tableId')
      const chains = parseChainTableCsv(await env.readFile(file), file)
      const table = await ask(env, { type: 'set-chain-table', tableId, chains, desc: (values.desc as string | undefined) ?? '' })
      return message(`chain table ${table.tableId} version ${table.version}: ${table.chains.length} chains`, table)
    },
  },
  {
    name: 'update-chain',
    usage: 'update-chain <chainId> <targetId> --mode add|remove',
    summary: 'add a target to a chain (it joins OFFLINE, then syncs) or remove an OFFLINE one',
    options: { mode: { type: 'string' } },
    positionals: [2, 2],
    async run([chain, target], values, env) {
      const chainId = parseId(chain, 'chainId')
      const targetId = parseId(target, 'targetId')
      const mode = values.mode
      if (mode !== 'add' && mode !== 'remove') throw usageError(`--mode ${mode === undefined ? 'is missing' : `${JSON.stringify(mode)} is not accepted`}; accepted: add | remove`)
      const result = await ask(env, { type: 'update-chain', chainId, targetId, mode })
      return { kind: 'table', columns: CHAIN_COLUMNS, rows: [chainRow(result)], json: result }
    },
  },
  {
    name: 'rotate-lastsrv',
    usage: 'rotate-lastsrv <chainId>',
    summary: "move a chain's LASTSRV head (that will never return) to the tail and promote the next target",
    options: {},
    positionals: [1, 1],
    async run([chain], _v, env) {
      const result = await ask(env, { type: 'rotate-lastsrv', chainId: parseId(chain, 'chainId') })
      return { kind: 'table', columns: CHAIN_COLUMNS, rows: [chainRow(result)], json: result }
    },
  },
  {
    name: 'offline-target',
    usage: 'offline-target <targetId>',
    summary: 'force a target OFFLINE until its storage node restarts',
    options: { 'target-id': { type: 'string' } },
    positionals: [0, 1],
    async run([target], values, env) {
      const given = target ?? (values['target-id'] as string | undefined)
      if (given === undefined) throw usageError('offline-target needs a target id (positional or --target-id)')
      const info = await ask(env, { type: 'offline-target', targetId: parseId(given, 'targetId') })
      return message(`target ${info.targetId} of chain ${info.chainId} is now local OFFLINE (public ${info.publicState}; the chain updater moves it)`, info)
    },
  },
  {
    name: 'create-target',
    usage: 'create-target --node-id N --target-id T [--chain-id C]',
    summary: 'create a storage target on a node (it reports as a spare until a chain holds it)',
    options: { 'node-id': { type: 'string' }, 'target-id': { type: 'string' }, 'chain-id': { type: 'string' } },
    positionals: [0, 0],
    async run(_p, values, env) {
      const nodeId = parseId(values['node-id'] as string | undefined, '--node-id')
      const targetId = parseId(values['target-id'] as string | undefined, '--target-id')
      if (targetId === 0) throw usageError('--target-id 0 means "none" in 3FS; accepted: a target id >= 1')
      const chainId = values['chain-id'] === undefined ? undefined : parseId(values['chain-id'] as string, '--chain-id')
      const target = await onStorageNode(env, nodeId, (s) => s.ask({ type: 'create-target', targetId, ...(chainId === undefined ? {} : { chainId }) }, { timeoutMs: env.timeoutMs }))
      return { kind: 'table', columns: TARGET_COLUMNS, rows: [targetRow(target)], json: target }
    },
  },
  {
    name: 'remove-target',
    usage: 'remove-target --node-id N --target-id T [--force]',
    summary: "delete a target's data on its node (it must be OFFLINE or in no chain, unless --force)",
    options: { 'node-id': { type: 'string' }, 'target-id': { type: 'string' }, force: { type: 'boolean' } },
    positionals: [0, 0],
    async run(_p, values, env) {
      const nodeId = parseId(values['node-id'] as string | undefined, '--node-id')
      const targetId = parseId(values['target-id'] as string | undefined, '--target-id')
      const target = await onStorageNode(env, nodeId, (s) => s.ask({ type: 'remove-target', targetId, force: values.force === true }, { timeoutMs: env.timeoutMs }))
      return message(`target ${target.targetId} removed from node ${target.nodeId}`, target)
    },
  },
  {
    name: 'list-replications',
    usage: 'list-replications',
    summary: 'automatic re-replications under way: the dead target, the spare replacing it, its sync progress',
    options: {},
    positionals: [0, 0],
    async run(_p, _v, env) {
      const info = await routing(env)
      const rows = info.replacements.map((r) => {
        const spare = info.targets.find((t) => t.targetId === r.spareTargetId)
        const p = spare?.syncProgress ?? null
        return [r.chainId, r.deadTargetId, r.spareTargetId, spare?.publicState ?? null, p === null ? null : `${p.doneChunks}/${p.totalChunks}`, Math.round(r.startedMs)] as Cell[]
      })
      return { kind: 'table', columns: ['ChainId', 'DeadTarget', 'SpareTarget', 'SpareState', 'SyncProgress', 'StartedMs'], rows, json: info.replacements }
    },
  },
]
