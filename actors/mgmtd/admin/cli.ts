/**
 * `t3fs admin [--mgmtd host:port] [--node N] [--name mgmtd] [--timeout ms] [--json] <command> ...`:
 * the thin CLI over the command functions of commands.ts (cluster commands, asked of mgmtd) and of
 * actors/meta/admin/commands.ts (file system commands, asked of a meta server: --meta, --meta-node,
 * --meta-name, acting as --uid/--gid with --token). It finds the actor (a launched node's, by
 * name, through runtime's connectToNode), runs one command, prints a table (or JSON with --json),
 * and exits 0 (ok), 1 (refused, or unreachable) or 2 (usage: unknown command or option, bad
 * argument, bad CSV).
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import type { ActorRef } from '../../../runtime/actor.ts'
import type { ActorAddress } from '../../../runtime/address.ts'
import { isT3fsError, T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import type { MgmtdMsg } from '../protocol.ts'
import { META_COMMANDS, type MetaAdminCommand } from '../../meta/admin/commands.ts'
import { MetaClient } from '../../meta/meta-client.ts'
import type { MetaMsg } from '../../meta/protocol.ts'
import { systemClock } from '../../../runtime/clock.ts'
import { Progress } from '../../../runtime/progress/progress.ts'
import { systemRandom } from '../../../runtime/random.ts'
import { CSV_ERROR } from './csv.ts'
import { COMMANDS, USAGE_ERROR, type AdminResult, type Cell, type NodeConnection } from './commands.ts'
import { waitSyncCommand } from './wait-sync.ts'

export interface AdminIo {
  readonly stdout: { write(text: string): unknown }
  readonly stderr: { write(text: string): unknown }
}

export interface MgmtdTarget {
  address: string
  node: number
  name: string
  timeoutMs: number
  /** The cluster's id, said in the handshake (a node refuses another cluster's clients). */
  clusterId: string
}

export interface MgmtdConnection {
  mgmtd: ActorRef<MgmtdMsg>
  /** A ref to another mgmtd actor by address (to follow a standby's redirect). */
  refFor?(address: ActorAddress): ActorRef<MgmtdMsg>
  close(): Promise<void>
}

export interface MetaConnection {
  meta: ActorRef<MetaMsg>
  close(): Promise<void>
}

export interface AdminDeps {
  connect(target: MgmtdTarget): Promise<MgmtdConnection>
  readFile(path: string): Promise<string>
  /** How to reach a meta server (default: like mgmtd, over TCP by name). */
  connectMeta?(target: MgmtdTarget): Promise<MetaConnection>
  /** A connection to another node at its endpoint (storage commands); without it they are refused. */
  connectNode?(endpoint: string, nodeId: number, timeoutMs: number, clusterId: string): Promise<NodeConnection>
}

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2

const GLOBAL_OPTIONS = {
  mgmtd: { type: 'string' },
  node: { type: 'string' },
  name: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  meta: { type: 'string' },
  'meta-node': { type: 'string' },
  'meta-name': { type: 'string' },
  token: { type: 'string' },
  uid: { type: 'string' },
  gid: { type: 'string' },
  'cluster-id': { type: 'string' },
} as const

type AnyCommand = (typeof COMMANDS)[number] | MetaAdminCommand
const ALL_COMMANDS: readonly AnyCommand[] = [...COMMANDS, waitSyncCommand, ...META_COMMANDS]
const isMeta = (c: AnyCommand): c is MetaAdminCommand => META_COMMANDS.includes(c as MetaAdminCommand)

export function adminUsage(): string {
  const width = Math.max(...ALL_COMMANDS.map((c) => c.usage.length))
  return [
    'usage: t3fs admin [global options] <command> [arguments]',
    '',
    'cluster commands (mgmtd):',
    ...COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'file system commands (a meta server):',
    ...META_COMMANDS.map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`),
    '',
    'global options:',
    '  --mgmtd HOST:PORT  the node running mgmtd (default $T3FS_MGMTD or 127.0.0.1:9000)',
    '  --node N           its node id (default $T3FS_MGMTD_NODE or 1)',
    '  --name NAME        the mgmtd actor name on that node (default mgmtd)',
    '  --timeout MS       per-request timeout (default 5000)',
    '  --cluster-id ID    the cluster\'s id, node.cluster_id of its profiles (default $T3FS_CLUSTER_ID or t3fs)',
    '  --meta HOST:PORT   the node running meta (default $T3FS_META, else the --mgmtd address)',
    '  --meta-node N      its node id (default $T3FS_META_NODE, else --node)',
    '  --meta-name NAME   the meta actor name on that node (default meta)',
    '  --uid N --gid N    act as this user in the file system (default 0, 0)',
    '  --token TOKEN      the user\'s (or an admin) token (default $T3FS_TOKEN)',
    '  --json             print JSON instead of a table',
    '  -h, --help         show this help',
    '',
    'exit codes: 0 ok, 1 refused (by mgmtd, or by meta with a POSIX errno) or unreachable, 2 usage error (bad command, option, argument or CSV)',
    '',
  ].join('\n')
}

const defaultDeps: AdminDeps = {
  async connect(target) {
    const { connectToNode } = await import('../../../runtime/node-client.ts')
    const client = await connectToNode({ address: target.address, node: target.node, clusterId: target.clusterId, connectTimeoutMs: target.timeoutMs })
    try {
      return { mgmtd: await client.lookup<MgmtdMsg>(target.name), refFor: (address) => client.system.refFor<MgmtdMsg>(address), close: () => client.close() }
    } catch (error) {
      await client.close()
      if (isT3fsError(error) && error.code === 'ERR_ASK_TIMEOUT') {
        throw new T3fsError('ERR_ADMIN_NO_REGISTRY', `node ${target.node} at ${target.address} accepted the connection but did not answer the lookup of ${JSON.stringify(target.name)} within ${target.timeoutMs} ms; check --node (the node id of that address) and that the node routes actor messages`, { address: target.address, node: target.node })
      }
      throw error
    }
  },
  readFile: (path) => readFile(path, 'utf8'),
  async connectMeta(target) {
    const { connectToNode } = await import('../../../runtime/node-client.ts')
    const client = await connectToNode({ address: target.address, node: target.node, clusterId: target.clusterId, connectTimeoutMs: target.timeoutMs })
    try {
      return { meta: await client.lookup<MetaMsg>(target.name), close: () => client.close() }
    } catch (error) {
      await client.close()
      throw error
    }
  },
  async connectNode(endpoint, nodeId, timeoutMs, clusterId) {
    const { connectToNode } = await import('../../../runtime/node-client.ts')
    const client = await connectToNode({ address: endpoint, node: nodeId, clusterId, connectTimeoutMs: timeoutMs })
    return { refFor: (address) => client.system.refFor(address), close: () => client.close() }
  },
}

/** --cluster-id, else $T3FS_CLUSTER_ID, else "t3fs" (configs/base.toml's), checked as node.cluster_id is. */
export function clusterIdOption(value: string | undefined): string {
  const id = value ?? process.env.T3FS_CLUSTER_ID ?? 't3fs'
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) {
    throw Object.assign(new Error(`--cluster-id ${JSON.stringify(id)}${value === undefined ? ' (from $T3FS_CLUSTER_ID)' : ''} is not accepted; accepted: 1 to 64 letters, digits, ".", "_" or "-" (node.cluster_id of the cluster's profiles)`), { code: USAGE_ERROR })
  }
  return id
}

function positiveInt(value: string | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${option} ${JSON.stringify(value)} is not accepted; accepted: a positive integer`)
  return Number(value)
}

export async function adminCommand(args: string[], io: AdminIo, deps: AdminDeps = defaultDeps): Promise<number> {
  const allOptions = Object.assign({}, GLOBAL_OPTIONS, ...ALL_COMMANDS.map((c) => c.options))
  const loose = parseArgs({ args, options: allOptions, strict: false, allowPositionals: true, tokens: true })
  const name = loose.tokens?.find((t) => t.kind === 'positional')?.value
  if (name === undefined) {
    if (loose.values.help === true) {
      io.stdout.write(adminUsage())
      return EXIT_OK
    }
    io.stderr.write(`t3fs admin: missing command\n\n${adminUsage()}`)
    return EXIT_USAGE
  }
  const command = ALL_COMMANDS.find((c) => c.name === name)
  if (command === undefined) {
    io.stderr.write(`t3fs admin: unknown command ${JSON.stringify(name)}; accepted: ${ALL_COMMANDS.map((c) => c.name).join(', ')}\n`)
    return EXIT_USAGE
  }
  const fail = (error: unknown): number => {
    const e = toT3fsError(error)
    const usage = e.code === USAGE_ERROR || e.code === CSV_ERROR || e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || e.code.startsWith('ERR_PARSE_ARGS')
    io.stderr.write(`t3fs admin ${command.name}: ${e.message}${isT3fsError(error) && !usage ? ` [${e.code}]` : ''}\n${usage ? `usage: t3fs admin ${command.usage}\n` : ''}`)
    return usage ? EXIT_USAGE : EXIT_FAILURE
  }
  let values: Record<string, string | boolean | undefined>
  let positionals: string[]
  let timeoutMs: number
  let node: number
  let clusterId: string
  try {
    const parsed = parseArgs({ args, options: { ...GLOBAL_OPTIONS, ...command.options }, strict: true, allowPositionals: true })
    values = parsed.values as Record<string, string | boolean | undefined>
    positionals = parsed.positionals.slice(1)
    if (values.help === true) {
      io.stdout.write(`usage: t3fs admin ${command.usage}\n  ${command.summary}\n`)
      return EXIT_OK
    }
    const [min, max] = command.positionals
    if (positionals.length < min || positionals.length > max) {
      throw Object.assign(new Error(`${command.name} takes ${min === max ? min : `${min} to ${max}`} argument${max === 1 ? '' : 's'}, got ${positionals.length}${positionals.length > 0 ? ` (${positionals.map((p) => JSON.stringify(p)).join(' ')})` : ''}`), { code: USAGE_ERROR })
    }
    timeoutMs = positiveInt(values.timeout as string | undefined, 5_000, '--timeout')
    clusterId = clusterIdOption(values['cluster-id'] as string | undefined)
    node = positiveInt((values.node as string | undefined) ?? process.env.T3FS_MGMTD_NODE, 1, '--node')
  } catch (error) {
    return fail(Object.assign(error as Error, { code: (error as { code?: string }).code ?? USAGE_ERROR }))
  }
  if (isMeta(command)) return runMeta(command, positionals, values, node, timeoutMs, clusterId, io, deps, fail)
  let connection: MgmtdConnection | null = null
  try {
    const address = (values.mgmtd as string | undefined) ?? process.env.T3FS_MGMTD ?? '127.0.0.1:9000'
    connection = await deps.connect({ address, node, name: (values.name as string | undefined) ?? 'mgmtd', timeoutMs, clusterId })
    const { mgmtd, refFor } = connection
    const connectNode = deps.connectNode
    let progress: Progress | undefined
    const result = await command.run(positionals, values, {
      mgmtd, readFile: deps.readFile, timeoutMs, clock: systemClock,
      // Made when a command shows progress (wait-sync): only then can a bad T3FS_PROGRESS refuse it.
      get progress() { return (progress ??= new Progress({ label: command.name, stream: io.stderr })) },
      ...(refFor === undefined ? {} : { redirect: (a: ActorAddress) => refFor(a) }),
      ...(connectNode === undefined ? {} : { connectNode: (endpoint: string, nodeId: number) => connectNode(endpoint, nodeId, timeoutMs, clusterId) }),
    })
    io.stdout.write(values.json === true ? `${JSON.stringify(result.json, null, 2)}\n` : render(result))
    return EXIT_OK
  } catch (error) {
    return fail(error)
  } finally {
    await connection?.close().catch(() => undefined)
  }
}

async function runMeta(
  command: MetaAdminCommand,
  positionals: string[],
  values: Record<string, string | boolean | undefined>,
  mgmtdNode: number,
  timeoutMs: number,
  clusterId: string,
  io: AdminIo,
  deps: AdminDeps,
  fail: (error: unknown) => number,
): Promise<number> {
  let connection: MetaConnection | null = null
  try {
    const id = (v: string | undefined, option: string): number => {
      if (v === undefined) return 0
      if (!/^\d+$/.test(v) || Number(v) > 0xffffffff) throw Object.assign(new Error(`${option} ${JSON.stringify(v)} is not accepted; accepted: an integer from 0 to 4294967295`), { code: 'ERR_ADMIN_USAGE' })
      return Number(v)
    }
    const user = { uid: id(values.uid as string | undefined, '--uid'), gid: id(values.gid as string | undefined, '--gid'), ...(((values.token as string | undefined) ?? process.env.T3FS_TOKEN) === undefined ? {} : { token: (values.token as string | undefined) ?? process.env.T3FS_TOKEN }) }
    const metaNode = (values['meta-node'] as string | undefined) ?? process.env.T3FS_META_NODE
    const address = (values.meta as string | undefined) ?? process.env.T3FS_META ?? (values.mgmtd as string | undefined) ?? process.env.T3FS_MGMTD ?? '127.0.0.1:9000'
    const target = { address, node: metaNode === undefined ? mgmtdNode : positiveInt(metaNode, 1, '--meta-node'), name: (values['meta-name'] as string | undefined) ?? 'meta', timeoutMs, clusterId }
    connection = await (deps.connectMeta ?? (defaultDeps.connectMeta as NonNullable<AdminDeps['connectMeta']>))(target)
    const meta = connection.meta
    const client = new MetaClient({ servers: [meta], clientId: `admin-${process.pid}-${Math.round(systemClock.now()).toString(36)}`, user, clock: systemClock, random: systemRandom, timeoutMs, maxAttempts: 3 })
    const result = await command.run(positionals, values, { client })
    io.stdout.write(values.json === true ? `${JSON.stringify(result.json, null, 2)}\n` : render(result))
    return EXIT_OK
  } catch (error) {
    return fail(error)
  } finally {
    await connection?.close().catch(() => undefined)
  }
}

/** A plain aligned table (null shows as "-"), or the message. */
export function render(result: AdminResult): string {
  if (result.kind === 'message') return `${result.text}\n`
  const text = (c: Cell): string => (c === null ? '-' : String(c))
  const widths = result.columns.map((h, i) => Math.max(h.length, ...result.rows.map((r) => text(r[i]).length)))
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()
  return [line(result.columns), ...result.rows.map((r) => line(r.map(text)))].join('\n') + '\n'
}
