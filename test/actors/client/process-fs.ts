/**
 * Test support: a real file system of launched processes on this machine — mgmtd and two meta
 * servers in one node (as configs/dev.toml), three storage nodes with chains of three on temp dirs
 * — that FileClients join over TCP with connectFileClient, as any Node process would.
 */
import { connectFileClient } from '../../../actors/client/client-node.ts'
import type { ConnectFileClientOptions, FileClient } from '../../../actors/client/file-client.ts'
import { startProcessCluster, type ProcessCluster } from '../../support/storage-processes.ts'

export const CLUSTER_ID = 'storage-test'

export interface ProcessFs extends ProcessCluster {
  /** `host:port` of mgmtd's node. */
  mgmtdAddress: string
  /** A FileClient of this process (a client node of its own: pass a distinct `clientNode` for each). */
  connect(options?: ConnectFileClientOptions): Promise<FileClient>
}

// Each KV user on a thread of its own (mgmtd on host 1, the meta servers on hosts 2 and 3): two
// actors opening the node's lmdb KV on one thread can block that thread for good (seen here as
// mgmtd never answering; see the report of the file-client branch).
const meta = (name: string, serverId: number, host: number, chains: number, chunkSizeBytes: number): string => [
  '[[actors]]', `name = "${name}"`, 'module = "actors/meta/meta-actor.ts"', 'export = "metaActor"', `host = ${host}`, '[actors.params]',
  `server_id = ${serverId}`, 'mgmtd_node = 1',
  `root_layout = { tableId = 1, tableVersion = 0, chunkSizeBytes = ${chunkSizeBytes}, stripeSize = ${chains}, chains = { kind = "empty" } }`,
].join('\n')

export interface ProcessFsOptions {
  chains?: number
  chunkSizeBytes?: number
  mgmtdParams?: Record<string, string>
  /** More TOML for node 1 (actors on hosts 4…; set `hosts` to cover them). */
  extraActors?: string
  /** Worker hosts of node 1 (default 3: mgmtd, meta, meta2). */
  hosts?: number
  log?: (line: string) => void
}

export async function startProcessFs(options: ProcessFsOptions = {}): Promise<ProcessFs> {
  const chains = options.chains ?? 3
  const chunkSizeBytes = options.chunkSizeBytes ?? 1024 * 1024
  const cluster = await startProcessCluster({
    storageNodes: 3, chains, chunkSizeBytes,
    mgmtdParams: { client_session_timeout: '20s', ...options.mgmtdParams },
    node1Actors: `${meta('meta', 100, 2, chains, chunkSizeBytes)}\n${meta('meta2', 101, 3, chains, chunkSizeBytes)}\n${options.extraActors ?? ''}\n[placement]\nnuma_domains = [0]\nhosts_per_domain = ${options.hosts ?? 3}\n`,
    ...(options.log === undefined ? {} : { log: options.log }),
  })
  await cluster.allServing(60_000)
  const mgmtdAddress = `127.0.0.1:${cluster.ports.get(1)}`
  let nextNode = 61_000
  const connect = (extra: ConnectFileClientOptions = {}): Promise<FileClient> => connectFileClient({ mgmtd: mgmtdAddress, mgmtdNode: 1, clusterId: CLUSTER_ID, clientNode: nextNode++, ...extra })
  // Meta learns the chain table from mgmtd on its own schedule: wait until a create works.
  const probe = await connect()
  for (let i = 0; ; i++) {
    try {
      await probe.close(await probe.create('/.probe'))
      await probe.unlink('/.probe')
      break
    } catch (error) {
      if (i > 300) throw error
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  await probe.shutdown()
  return { ...cluster, mgmtdAddress, connect }
}
