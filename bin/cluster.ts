/**
 * A whole cluster from one profile (npm start): what `t3fs launch` does beyond its own node when
 * the profile lists `[[launch]]` children and a `[bootstrap]`, and how it stops.
 *
 * - Children: one process per listed profile (`t3fs launch <profile>`, one NodeRuntime each), in
 *   a process group of their own, so Ctrl-C reaches this process only and the stop goes in order:
 *   the FUSE mount first (it flushes to storage), then this node, then the children. A child
 *   whose parent dies (kill -9) stops too: it watches its IPC channel (T3FS_LAUNCHED_BY).
 * - Bootstrap: at the first start, mgmtd (an actor of this node) gets the cluster, the chains and
 *   the chain table from the profile's CSVs (3FS's init-cluster, upload-chains,
 *   upload-chain-table); later starts find them set and change nothing.
 * - Mounts: every `fuseMount` actor of this node is asked to unmount before the node stops, and
 *   what is still mounted at their mount points after it stopped is detached: Ctrl-C leaves
 *   nothing mounted.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type pino from 'pino'
import type { ActorRef } from '../runtime/actor.ts'
import { T3fsError } from '../runtime/errors.ts'
import { mountsAt, unmountFuse } from '../runtime/fuse-device.ts'
import type { NodeRuntime } from '../runtime/node-runtime.ts'
import type { BootstrapSettings, Profile } from '../runtime/profile/index.ts'
import { parseChainsCsv, parseChainTableCsv } from '../actors/mgmtd/admin/csv.ts'
import type { MgmtdMsg, RoutingInfo } from '../actors/mgmtd/protocol.ts'
import type { FuseMountMsg, FuseStatus } from '../actors/client/fuse/protocol.ts'
import type { Layout } from '../actors/meta/layout.ts'

/** How long a stopping child may take beyond its profile's grace period before it is killed. */
const CHILD_STOP_EXTRA_MS = 5_000
const PRIMARY_WAIT_MS = 60_000
const POLL_MS = 200
const FUSE_TYPE = 'fuse.t3fs'
const UNMOUNT_TIMEOUT_MS = 30_000

export interface ChildNode {
  readonly profile: string
  readonly process: ChildProcess
  readonly exited: Promise<number | null>
}

/** The `t3fs` command this process runs (from the sources or compiled). */
function cliEntry(): string {
  return fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './t3fs.mjs' : './t3fs.js', import.meta.url))
}

export function startChildren(profile: Profile, logLevel: string, log: pino.Logger): ChildNode[] {
  return profile.launch.map(({ profile: file }) => {
    // T3FS_CHILD_NODE_ARGS: extra node flags for the launched nodes (e.g. --cpu-prof --cpu-prof-dir=/tmp/p).
    const nodeArgs = (process.env.T3FS_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
    const child = spawn(process.execPath, [...nodeArgs, cliEntry(), 'launch', '--log-level', logLevel, file], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      detached: true,
      env: { ...process.env, T3FS_LAUNCHED_BY: String(process.pid) },
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => {
      if (code !== 0) log.warn({ evt: 'ChildExited', profile: file, code, signal })
      resolve(code)
    }))
    log.info({ evt: 'ChildStarted', profile: file, pid: child.pid })
    return { profile: file, process: child, exited }
  })
}

/** SIGTERM to each child; a child still there after its grace period (and some) gets SIGKILL. */
export async function stopChildren(children: readonly ChildNode[], graceMs: number): Promise<void> {
  await Promise.all(children.map(async (c) => {
    if (c.process.exitCode !== null || c.process.signalCode !== null) return
    c.process.kill('SIGTERM')
    const timer = setTimeout(() => c.process.kill('SIGKILL'), graceMs + CHILD_STOP_EXTRA_MS)
    await c.exited
    clearTimeout(timer)
  }))
}

/** In a child: stop when the parent goes away (its IPC channel closes), as on SIGTERM. */
export function watchParent(onGone: () => void): () => void {
  if (process.env.T3FS_LAUNCHED_BY === undefined || process.channel === undefined) return () => {}
  const handler = (): void => onGone()
  process.on('disconnect', handler)
  // The channel must not keep the child alive on its own, nor the parent waiting for it.
  process.channel.unref()
  return () => process.off('disconnect', handler)
}

/** A pause that does not keep the process alive (a stopping node must exit without waiting for it). */
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())

/** Thrown by the bootstrap's waits once the node is stopping: not a failure, nothing to log. */
export class Stopping extends Error {}
const checkStopping = (signal: AbortSignal | undefined): void => {
  if (signal?.aborted === true) throw new Stopping('the node is stopping')
}

async function primaryMgmtd(runtime: NodeRuntime, signal?: AbortSignal): Promise<ActorRef<MgmtdMsg>> {
  const mgmtd = runtime.lookup<MgmtdMsg>('mgmtd')
  if (mgmtd === undefined) throw new T3fsError('ERR_PROFILE', '[bootstrap] needs mgmtd on this node: an actor named "mgmtd"', { key: 'bootstrap' })
  const deadline = Date.now() + PRIMARY_WAIT_MS
  while (!(await mgmtd.ask({ type: 'status' }).catch(() => ({ primary: false }))).primary) {
    checkStopping(signal)
    if (Date.now() > deadline) throw new T3fsError('ERR_BOOTSTRAP', `mgmtd did not become primary within ${PRIMARY_WAIT_MS} ms`, {})
    await sleep(POLL_MS)
  }
  return mgmtd
}

/**
 * The layout of the cluster's files in a [bootstrap] (chunk_size, stripe_size: every chain of the
 * table unless set). init-cluster records it in mgmtd, and the node's meta servers create the root
 * directory with it (3FS's init-cluster sets the root's layout): every file inherits it.
 */
export function clusterLayout(b: BootstrapSettings, chainTable: readonly number[]): Layout {
  return { tableId: b.tableId, tableVersion: 0, chunkSizeBytes: b.chunkSizeBytes, stripeSize: b.stripeSize ?? chainTable.length, chains: { kind: 'empty' } }
}

/** The profile's clusterLayout, or null without [bootstrap]: meta starts before init-cluster runs, so it gets it at spawn. */
export async function bootstrapLayout(profile: Profile): Promise<Layout | null> {
  const b = profile.bootstrap
  return b === null ? null : clusterLayout(b, parseChainTableCsv(await readFile(b.chainTable, 'utf8'), b.chainTable))
}

/** Sets up what is missing of the profile's [bootstrap]; returns what it did. */
export async function bootstrapCluster(runtime: NodeRuntime, profile: Profile, log: pino.Logger, signal?: AbortSignal): Promise<string[]> {
  const b = profile.bootstrap
  if (b === null) return []
  const chains = parseChainsCsv(await readFile(b.chains, 'utf8'), b.chains)
  const table = parseChainTableCsv(await readFile(b.chainTable, 'utf8'), b.chainTable)
  const layout = clusterLayout(b, table)
  const mgmtd = await primaryMgmtd(runtime, signal)
  const done: string[] = []
  if ((await mgmtd.ask({ type: 'get-cluster' })) === null) {
    await mgmtd.ask({ type: 'init-cluster', cluster: { clusterId: profile.node.clusterId, chainTableId: layout.tableId, chunkSizeBytes: layout.chunkSizeBytes, stripeSize: layout.stripeSize } })
    done.push('init-cluster')
  }
  const info = (await mgmtd.ask({ type: 'get-routing-info' }))!
  const known = new Set(info.chains.map((c) => c.chainId))
  const missing = chains.filter((c) => !known.has(c.chainId))
  if (missing.length > 0) {
    await mgmtd.ask({ type: 'set-chains', chains: missing })
    done.push(`${missing.length} chains`)
  }
  if (!info.chainTables.some((t) => t.tableId === b.tableId)) {
    await mgmtd.ask({ type: 'set-chain-table', tableId: b.tableId, chains: table, desc: 'bootstrap' })
    done.push(`chain table ${b.tableId}`)
  }
  log.info({ evt: 'ClusterBootstrap', done }, done.length === 0 ? 'cluster already set up' : `cluster set up: ${done.join(', ')}`)
  await waitServing(mgmtd, b.waitServingMs, log, signal)
  return done
}

/**
 * Every chain has every target SERVING on a storage node this mgmtd heard from since it started:
 * after a restart mgmtd still holds the states of the last run until its nodes report again.
 */
function allServing(info: RoutingInfo): boolean {
  if (info.bootstrapping || info.chains.length === 0) return false
  const heard = new Set(info.nodes.filter((n) => n.lastHeartbeatMs > 0 && n.status !== 'HEARTBEAT_FAILED').map((n) => n.nodeId))
  const nodeOf = new Map(info.targets.map((t) => [t.targetId, t.nodeId]))
  return info.chains.every((c) => c.targets.every((t) => {
    const node = nodeOf.get(t.targetId)
    return t.publicState === 'SERVING' && node != null && heard.has(node)
  }))
}

/** Waits (bounded) until every chain has every target SERVING; says which are not when it gives up. */
async function waitServing(mgmtd: ActorRef<MgmtdMsg>, timeoutMs: number, log: pino.Logger, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let info: RoutingInfo | null = null
  for (;;) {
    info = await mgmtd.ask({ type: 'get-routing-info' }).catch(() => null)
    checkStopping(signal)
    const serving = info !== null && allServing(info)
    if (serving) {
      log.info({ evt: 'ClusterServing', chains: info!.chains.length }, `all ${info!.chains.length} chains SERVING`)
      return
    }
    if (Date.now() > deadline) {
      const states = info?.chains.map((c) => `${c.chainId}[${c.targets.map((t) => `${t.targetId}:${t.publicState}`).join(' ')}]`).join(' ') ?? 'no routing info'
      log.warn({ evt: 'ClusterNotServing', states }, `not every chain is SERVING after ${timeoutMs} ms: ${states}`)
      return
    }
    await sleep(POLL_MS)
  }
}

/** The FUSE mount actors of this node, by the export the profile names. */
export function fuseMounts(runtime: NodeRuntime, profile: Profile): ActorRef<FuseMountMsg>[] {
  return profile.actors.filter((a) => a.export === 'fuseMount').map((a) => runtime.lookup<FuseMountMsg>(a.name)).filter((r): r is ActorRef<FuseMountMsg> => r !== undefined)
}

/** The status of every mount of this node (a mount still starting answers once it is up: waits up to `timeoutMs`). */
export async function mountStatuses(runtime: NodeRuntime, profile: Profile, timeoutMs = PRIMARY_WAIT_MS): Promise<FuseStatus[]> {
  return Promise.all(fuseMounts(runtime, profile).map((m) => m.ask({ type: 'status' }, { timeoutMs })))
}

/** Asks every mount to unmount (and flush); returns the mount points to check after the node stopped. */
export async function unmountAll(runtime: NodeRuntime, profile: Profile, known: readonly string[], log: pino.Logger): Promise<string[]> {
  const points = new Set(known)
  await Promise.all(fuseMounts(runtime, profile).map(async (m) => {
    try {
      points.add((await m.ask({ type: 'status' }, { timeoutMs: 2_000 })).mountPoint)
      await m.ask({ type: 'unmount' }, { timeoutMs: UNMOUNT_TIMEOUT_MS })
    } catch (error) {
      log.warn({ evt: 'UnmountFailed', err: (error as Error).message })
    }
  }))
  return [...points]
}

/** Detaches whatever t3fs mount is still at `points` (the mount actor failed, or was killed). */
export async function detachLeftovers(points: readonly string[], log: pino.Logger): Promise<void> {
  for (const point of points) {
    for (const m of await mountsAt(point)) {
      if (m.type !== FUSE_TYPE) continue
      await unmountFuse(point, { lazy: true }).catch((error: unknown) => log.warn({ evt: 'DetachFailed', mountPoint: point, err: (error as Error).message }))
      log.warn({ evt: 'MountDetached', mountPoint: point })
    }
  }
}
