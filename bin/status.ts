/**
 * `t3fs status [--mgmtd host:port] [--node N] [--cluster-id ID] [--fuse NAME] [--timeout ms] [--json]`: the state of
 * a running cluster at a glance (what `npm start` brought up): its nodes, chains and targets as
 * mgmtd sees them, the FUSE mount actor's state and counters, and the t3fs mounts of this machine
 * (a stale one, left by a killed server, shows as such). Exit 0 when mgmtd answered, 1 when not.
 */
import { parseArgs } from 'node:util'
import { readFile } from 'node:fs/promises'
import type { RoutingInfo } from '../actors/mgmtd/protocol.ts'
import type { FuseMountMsg, FuseStatus } from '../actors/client/fuse/protocol.ts'
import { clusterIdOption, render } from '../actors/mgmtd/admin/cli.ts'
import type { AdminResult } from '../actors/mgmtd/admin/commands.ts'
import type { MgmtdMsg } from '../actors/mgmtd/protocol.ts'
import { toT3fsError } from '../runtime/errors.ts'
import { probeMount, type MountProbe } from '../runtime/fuse-device.ts'
import type { Io } from './cli.ts'

const HELP = `usage: t3fs status [--mgmtd HOST:PORT] [--node N] [--cluster-id ID] [--fuse NAME] [--timeout MS] [--json]

  nodes, chains and targets of the cluster (from mgmtd), its FUSE mount and the t3fs mounts here
  --mgmtd HOST:PORT  the node running mgmtd and the mount (default $T3FS_MGMTD or 127.0.0.1:9000)
  --node N           its node id (default $T3FS_MGMTD_NODE or 1)
  --cluster-id ID    the cluster's id, node.cluster_id of its profiles (default $T3FS_CLUSTER_ID or t3fs)
  --fuse NAME        the FUSE mount actor on that node (default fuse)
  --timeout MS       per-request timeout (default 5000)
  --json             one JSON document instead of tables
`
const FUSE_TYPE = 'fuse.t3fs'

export interface LocalMount { readonly mountPoint: string; readonly state: MountProbe | 'hung' }

export interface ClusterStatus {
  readonly routing: RoutingInfo
  /** null: no such actor on that node (its error says why). */
  readonly fuse: FuseStatus | null
  readonly fuseError: string | null
  readonly localMounts: readonly LocalMount[]
}

export async function statusCommand(args: string[], io: Io): Promise<number> {
  let values: { mgmtd?: string; node?: string; 'cluster-id'?: string; fuse?: string; timeout?: string; json?: boolean; help?: boolean }
  try {
    values = parseArgs({ args, options: { mgmtd: { type: 'string' }, node: { type: 'string' }, 'cluster-id': { type: 'string' }, fuse: { type: 'string' }, timeout: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values
  } catch (error) {
    io.stderr.write(`t3fs status: ${(error as Error).message}\n\n${HELP}`)
    return 2
  }
  if (values.help === true) {
    io.stdout.write(HELP)
    return 0
  }
  const number = (v: string | undefined, fallback: number): number | null => {
    if (v === undefined) return fallback
    return /^\d+$/.test(v) && Number(v) > 0 ? Number(v) : null
  }
  const node = number(values.node ?? process.env.T3FS_MGMTD_NODE, 1)
  const timeoutMs = number(values.timeout, 5_000)
  if (node === null || timeoutMs === null) {
    io.stderr.write(`t3fs status: --node and --timeout take a positive integer (got ${JSON.stringify(values.node ?? values.timeout)})\n`)
    return 2
  }
  let clusterId: string
  try {
    clusterId = clusterIdOption(values['cluster-id'])
  } catch (error) {
    io.stderr.write(`t3fs status: ${(error as Error).message}\n`)
    return 2
  }
  const address = values.mgmtd ?? process.env.T3FS_MGMTD ?? '127.0.0.1:9000'
  try {
    const status = await clusterStatus(address, node, values.fuse ?? 'fuse', timeoutMs, clusterId)
    io.stdout.write(values.json === true ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status))
    return 0
  } catch (error) {
    const e = toT3fsError(error)
    // A node that refused this client (another cluster's id) did answer: its reason says what to fix.
    const answered = e.code === 'ERR_HELLO_REJECTED'
    io.stderr.write(`t3fs status: ${answered ? e.message : `mgmtd on node ${node} at ${address} did not answer: ${e.message}`} [${e.code}]${answered ? '' : ' (is the cluster running? `npm start`)'}\n`)
    return 1
  }
}

export async function clusterStatus(address: string, node: number, fuseName: string, timeoutMs: number, clusterId: string): Promise<ClusterStatus> {
  const { connectToNode } = await import('../runtime/node-client.ts')
  const client = await connectToNode({ address, node, clusterId, connectTimeoutMs: timeoutMs })
  try {
    const mgmtd = await client.lookup<MgmtdMsg>('mgmtd')
    const routing = await mgmtd.ask({ type: 'get-routing-info' }, { timeoutMs })
    if (routing === null) throw new Error('mgmtd returned no routing info')
    let fuse: FuseStatus | null = null
    let fuseError: string | null = null
    try {
      fuse = await (await client.lookup<FuseMountMsg>(fuseName)).ask({ type: 'status' }, { timeoutMs })
    } catch (error) {
      fuseError = (error as Error).message
    }
    return { routing, fuse, fuseError, localMounts: await localMounts(fuse?.mountPoint ?? null) }
  } finally {
    await client.close().catch(() => {})
  }
}

/** The t3fs mounts of this machine's mount namespace, each probed (live or stale). */
async function localMounts(skipProbe: string | null): Promise<LocalMount[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '')
  const points = new Set<string>()
  for (const line of text.split('\n')) {
    const [left, right] = line.split(' - ')
    if (right?.split(' ')[0] !== FUSE_TYPE) continue
    points.add((left!.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
  }
  return Promise.all([...points].map(async (mountPoint) => {
    // The cluster's own mount answered above; a stat of it is not needed (and a hung one would wait).
    if (mountPoint === skipProbe) return { mountPoint, state: 'live' as const }
    const state = await probeMount(mountPoint, FUSE_TYPE, 1_000).catch(() => 'hung' as const)
    return { mountPoint, state }
  }))
}

const MiB = 1024 * 1024

export function formatStatus(s: ClusterStatus): string {
  const r = s.routing
  const nodes: AdminResult = { kind: 'table', columns: ['NodeId', 'Type', 'Status', 'Endpoint'], rows: r.nodes.map((n) => [n.nodeId, n.type, n.status, n.endpoint]), json: null }
  const chains: AdminResult = {
    kind: 'table', columns: ['ChainId', 'Version', 'Targets (head first)'], json: null,
    rows: r.chains.map((c) => [c.chainId, c.chainVersion, c.targets.map((t) => `${t.targetId}(${t.publicState})`).join(' ')]),
  }
  const targets: AdminResult = {
    kind: 'table', columns: ['TargetId', 'ChainId', 'NodeId', 'PublicState', 'LocalState', 'UsedMiB'], json: null,
    rows: r.targets.map((t) => [t.targetId, t.chainId, t.nodeId, t.publicState, t.localState, (t.usedSizeBytes / MiB).toFixed(1)]),
  }
  const out = [`nodes (routing info v${r.routingInfoVersion}${r.bootstrapping ? ', mgmtd bootstrapping' : ''})`, render(nodes), 'chains', render(chains), 'targets', render(targets)]
  out.push('mount')
  if (s.fuse === null) out.push(`  no FUSE mount actor: ${s.fuseError}\n`)
  else {
    const f = s.fuse
    out.push(f.mounted
      ? `  ${f.mountPoint}: mounted (FUSE ${f.kernel ?? "?"}), ${f.queues} queues, ${f.inFlight} in flight, ${f.requests} requests (${f.errors} errors), ${(f.bytesRead / MiB).toFixed(1)} MiB read, ${(f.bytesWritten / MiB).toFixed(1)} MiB written, ${f.openHandles} open files; ${f.revalidations} revalidation rounds, ${f.notifications} kernel notifications (${f.pageCacheDrops} dropped cached pages)\n`
      : `  ${f.mountPoint}: not mounted: ${f.reason ?? 'unmounted'}\n`)
  }
  const others = s.localMounts.filter((m) => m.mountPoint !== s.fuse?.mountPoint)
  for (const m of others) out.push(`  ${m.mountPoint}: a ${m.state} t3fs mount of another server${m.state === 'stale' ? ` (its server died: \`umount -l ${m.mountPoint}\`, or start t3fs there again)` : ''}\n`)
  return out.join('\n')
}
