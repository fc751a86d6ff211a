/**
 * A real storage cluster of `t3fs launch` processes on this machine, for the chaos test and the
 * storage benchmark: mgmtd (node 1) and N storage nodes (10001…), profiles written to a temp dir
 * from the shape of configs/cluster3 (free ports, the temp dir as disk roots), and this process
 * joining as a client node (900) with a storage client actor. Nodes can be killed with SIGKILL and
 * launched again from the same profile. By default every node listens on 127.0.0.1; `hostOf` and
 * `spawnPrefix` put each node on an address and in a network namespace of its own (netns-cluster test).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MgmtdMsg, RoutingInfo } from '../../actors/mgmtd/protocol.ts'
import { storageClientActor, type ClientActorArgs, type ClientActorMsg } from '../../actors/storage/client/client-actor.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import { NodeRuntime } from '../../runtime/node-runtime.ts'
import { TcpTransport } from '../../runtime/transport/tcp-transport.ts'
import { freePort } from './free-port.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'bin/t3fs.mjs')
export const CLIENT_NODE = 900

export interface ProcessClusterOptions {
  storageNodes: number
  chains: number
  /** Chunk size of the workload (the pool's largest slot must hold one). */
  chunkSizeBytes: number
  /** Extra storage params (snake_case knobs). */
  storageParams?: Record<string, string | number>
  /** Chunk-engine format of new targets (e.g. { checksumSegmentBytes: 4096 }). */
  engineFormat?: Record<string, number>
  mgmtdParams?: Record<string, string>
  /** More actors on node 1 (mgmtd's node), as profile TOML (`[[actors]]` sections), e.g. a meta server. */
  node1Actors?: string
  /** Nodes of their own besides mgmtd's and the storage nodes, by node id: their profile TOML (e.g. a meta server's `[[actors]]`). */
  extraNodes?: Record<number, string>
  /** More profile TOML for a node (e.g. its [metrics] table), appended to its profile. */
  nodeToml?: (nodeId: number) => string
  /** The host the storage service (and so its replicas) runs on: 0 is the main thread, beside the transport (default 1). */
  storageHost?: number
  /** Where the nodes keep their disks (default a temp dir, removed at close). */
  dir?: string
  /** The address a node listens on and the others (and this process) reach it at (default 127.0.0.1). */
  hostOf?: (nodeId: number) => string
  /** A command that runs a node's process, e.g. ['ip', 'netns', 'exec', 'ns1'] (default: none, node runs directly). */
  spawnPrefix?: (nodeId: number) => readonly string[]
  log?: (line: string) => void
  /** transport.same_host_copy of every node and of this process's client (default true). */
  sameHostCopy?: boolean
}

export interface ProcessCluster {
  dir: string
  nodes: Map<number, { profile: string; process: ChildProcess | null }>
  /** Each node's TCP port (on 127.0.0.1 unless `hostOf` says otherwise). */
  ports: Map<number, number>
  /** Each node's listen host (127.0.0.1 unless `hostOf` says otherwise). */
  hosts: Map<number, string>
  storageNodeIds: number[]
  client: NodeRuntime
  mgmtd: ActorRef<MgmtdMsg>
  chains: { chainId: number; targets: number[] }[]
  launch(nodeId: number): Promise<void>
  kill(nodeId: number): void
  storageClient(args?: Partial<ClientActorArgs>): ActorRef<ClientActorMsg>
  routing(): Promise<RoutingInfo>
  /** Waits until every chain has every target SERVING (or throws after `timeoutMs`). */
  allServing(timeoutMs: number): Promise<RoutingInfo>
  close(): Promise<void>
}

const toml = (value: string | number | number[]): string => (Array.isArray(value) ? `[${value.join(', ')}]` : typeof value === 'number' ? String(value) : JSON.stringify(value))

export async function startProcessCluster(options: ProcessClusterOptions): Promise<ProcessCluster> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 't3fs-storage-'))
  const storageNodeIds = Array.from({ length: options.storageNodes }, (_, i) => 10_001 + i)
  const ports = new Map<number, number>()
  const extraNodeIds = Object.keys(options.extraNodes ?? {}).map(Number)
  const nodeIds = [1, ...storageNodeIds, ...extraNodeIds]
  for (const id of nodeIds) ports.set(id, await freePort())
  const hosts = new Map(nodeIds.map((id) => [id, options.hostOf?.(id) ?? '127.0.0.1']))
  const slot = Math.max(options.chunkSizeBytes, 64 * 1024)
  const base = [
    `[node]\ncluster_id = "storage-test"\nroot = ${JSON.stringify(repo)}`,
    `[kv]\nbackend = "lmdb"\npath = ${JSON.stringify(join(dir, 'kv'))}`,
    '[placement]\nnuma_domains = [0]\nhosts_per_domain = 1',
    '[transport]\nkind = "tcp"\nheartbeat_interval = "200ms"\nheartbeat_timeout = "2s"\nreconnect_min = "50ms"\nreconnect_max = "500ms"\nmax_frame_size = "256MiB"' + `\nsame_host_copy = ${options.sameHostCopy ?? true}`,
    `[log]\nlevel = "${process.env.T3FS_CHILD_LOG_LEVEL ?? 'info'}"\n[shutdown]\ngrace_period = "1s"`,
    ...[...ports].map(([node, port]) => `[[peers]]\nnode = ${node}\naddress = "${hosts.get(node)}:${port}"`),
  ].join('\n\n')
  writeFileSync(join(dir, 'base.toml'), `${base}\n`)
  const mgmtdParams = { lease_length: '10s', extend_lease_interval: '2s', heartbeat_fail_interval: '4s', check_status_interval: '500ms', update_chains_interval: '200ms', new_chain_bootstrap_interval: '1s', ...options.mgmtdParams }
  const nodes = new Map<number, { profile: string; process: ChildProcess | null }>()
  const write = (id: number, body: string): void => {
    const profile = join(dir, `node${id}.toml`)
    writeFileSync(profile, `include = "base.toml"\n[node]\nid = ${id}\n[listen]\ntcp = "${hosts.get(id)}:${ports.get(id)}"\n${body}\n${options.nodeToml?.(id) ?? ''}\n`)
    nodes.set(id, { profile, process: null })
  }
  write(1, `[[actors]]\nname = "mgmtd"\nmodule = "actors/mgmtd/mgmtd-actor.ts"\nexport = "mgmtdActor"\nhost = 1\n[actors.params]\n${Object.entries(mgmtdParams).map(([k, v]) => `${k} = ${toml(v)}`).join('\n')}\n${options.node1Actors ?? ''}`)
  const chains = Array.from({ length: options.chains }, (_, c) => ({
    chainId: c + 1,
    targets: storageNodeIds.map((_, r) => ((c + r) % options.storageNodes + 1) * 100 + c + 1),
  }))
  storageNodeIds.forEach((id, i) => {
    const targets = chains.flatMap((c) => c.targets).filter((t) => Math.floor(t / 100) === i + 1)
    const params = { mgmtd_nodes: [1], targets, heartbeat_interval: '300ms', serve_lease: '1500ms', forward_timeout: '2s', forward_budget: '20s', ...options.storageParams }
    write(id, [
      `[disk]\nroot = ${JSON.stringify(join(dir, `disk${id}`))}`,
      `[[buffer_pool]]\nslot_size = "64KiB"\nslots = 256`,
      ...(slot > 64 * 1024 ? [`[[buffer_pool]]\nslot_size = ${slot}\nslots = 96`] : []),
      `[[actors]]\nname = "storage"\nmodule = "actors/storage/storage-node.ts"\nexport = "storageNode"\nhost = ${options.storageHost ?? 1}\n[actors.params]\n${Object.entries(params).map(([k, v]) => `${k} = ${toml(v as string)}`).join('\n')}`,
      ...(options.engineFormat === undefined ? [] : [`[actors.params.engine.format]\n${Object.entries(options.engineFormat).map(([k, v]) => `${k} = ${v}`).join('\n')}`]),
    ].join('\n'))
  })
  for (const id of extraNodeIds) write(id, options.extraNodes![id])
  const log = options.log ?? (() => {})
  const launch = async (nodeId: number): Promise<void> => {
    const entry = nodes.get(nodeId)!
    // T3FS_CHILD_NODE_ARGS: extra node flags for the launched nodes (e.g. --cpu-prof --cpu-prof-dir=/tmp/p).
    const nodeArgs = (process.env.T3FS_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
    const command = [...(options.spawnPrefix?.(nodeId) ?? []), process.execPath, ...nodeArgs, bin, 'launch', entry.profile]
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] })
    entry.process = child
    let text = ''
    // T3FS_CHILD_LOG_DIR: keep each node's log (JSON lines on stderr) in that directory.
    const logDir = process.env.T3FS_CHILD_LOG_DIR
    if (logDir !== undefined) child.stderr!.pipe(createWriteStream(join(logDir, `node${nodeId}.log`), { flags: 'a' }))
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${nodeId} did not start in 30 s: ${text.slice(-2000)}`)), 30_000)
      child.stderr!.on('data', (c: Buffer) => {
        text += c.toString()
        if (text.length > 100_000) text = text.slice(-50_000)
        if (text.includes('"evt":"NodeStarted"')) {
          clearTimeout(timer)
          resolve()
        }
      })
      child.on('exit', (code, signal) => {
        clearTimeout(timer)
        if (!text.includes('"evt":"NodeStarted"')) reject(new Error(`node ${nodeId} exited (${code ?? signal}) before it started: ${text.slice(-2000)}`))
      })
    })
    log(`node ${nodeId} started (pid ${child.pid})`)
  }
  await Promise.all([...nodes.keys()].map(launch))
  const transport = new TcpTransport({
    nodeId: CLIENT_NODE, clusterId: 'storage-test', listen: { host: '127.0.0.1', port: 0 },
    peers: [...ports].map(([node, port]) => ({ node, address: { host: hosts.get(node)!, port } })),
    heartbeatIntervalMs: 200, heartbeatTimeoutMs: 2_000, reconnectMinMs: 50, reconnectMaxMs: 500, maxFrameBytes: 256 * 1024 * 1024,
    sameHostCopy: options.sameHostCopy ?? true,
  })
  const client = await NodeRuntime.start({ node: CLIENT_NODE, hostsPerDomain: 1, domains: [{ id: 0, cpus: [0] }], transport, bufferPool: { classes: [{ slotBytes: 64 * 1024, slots: 256 }, ...(slot > 64 * 1024 ? [{ slotBytes: slot, slots: 128 }] : [])] } })
  log('client node started')
  const mgmtd = await retry(() => client.lookupRemote<MgmtdMsg>(1, 'mgmtd', 2_000), 50)
  log('mgmtd found')
  for (let i = 0; !(await mgmtd.ask({ type: 'status' }).catch(() => ({ primary: false }))).primary; i++) {
    if (i > 200) throw new Error('mgmtd did not become primary')
    await sleepMs(100)
  }
  log('mgmtd primary')
  await mgmtd.ask({ type: 'init-cluster', cluster: { clusterId: 'storage-test', chainTableId: 1, chunkSizeBytes: options.chunkSizeBytes, stripeSize: options.chains } })
  await mgmtd.ask({ type: 'set-chains', chains })
  await mgmtd.ask({ type: 'set-chain-table', tableId: 1, chains: chains.map((c) => c.chainId), desc: 'storage test' })
  log('cluster initialised')
  let clients = 0
  const routing = async (): Promise<RoutingInfo> => (await mgmtd.ask({ type: 'get-routing-info' }, { timeoutMs: 5_000 }))!
  return {
    dir, nodes, ports, hosts, storageNodeIds, client, mgmtd, chains, launch, routing,
    kill(nodeId) {
      const entry = nodes.get(nodeId)!
      entry.process?.kill('SIGKILL')
      entry.process = null
      log(`node ${nodeId} killed (SIGKILL)`)
    },
    storageClient(args = {}) {
      return client.system.spawn(storageClientActor, { clientId: `client-${++clients}`, mgmtds: [mgmtd], requestTimeoutMs: 5_000, retryBudgetMs: 60_000, backoffMinMs: 50, backoffMaxMs: 1_000, routingRefreshMs: 500, ...args })
    },
    async allServing(timeoutMs) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        const info = await routing().catch(() => null)
        if (info !== null && info.chains.length > 0 && info.chains.every((c) => c.targets.every((t) => t.publicState === 'SERVING')) && info.targets.every((t) => t.localState === 'UPTODATE')) return info
        if (Date.now() > deadline) throw new Error(`chains not all SERVING after ${timeoutMs} ms: ${info?.chains.map((c) => `${c.chainId}[${c.targets.map((t) => `${t.targetId}:${t.publicState}`).join(' ')}]`).join(' ')}`)
        await sleepMs(200)
      }
    },
    async close() {
      // T3FS_GRACEFUL_CLOSE: SIGTERM and wait (so --cpu-prof in NODE_OPTIONS gets written); else SIGKILL.
      const graceful = process.env.T3FS_GRACEFUL_CLOSE !== undefined
      await Promise.all([...nodes.values()].map((entry) => new Promise<void>((resolve) => {
        const child = entry.process
        if (child === null || child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.kill(graceful ? 'SIGTERM' : 'SIGKILL')
        entry.process = null
      })))
      await client.shutdown(500).catch(() => {})
      if (options.dir === undefined) rmSync(dir, { recursive: true, force: true })
    },
  }
}

export const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function retry<T>(f: () => Promise<T>, times: number): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await f()
    } catch (error) {
      if (i >= times) throw error
      await sleepMs(100)
    }
  }
}
