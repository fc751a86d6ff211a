/**
 * The USRBIO server of a t3fs node: local processes register shared-memory regions and rings
 * (layout.ts) over a unix socket (protocol.ts) and submit batched reads and writes of t3fs files;
 * this actor does them with its own FileClient straight into and out of their regions
 * (session.ts). It can share a node with the FUSE mount. In a profile:
 *
 *   [[actors]]
 *   name = "usrbio"
 *   module = "actors/client/usrbio/usrbio-actor.ts"
 *   export = "usrbioActor"
 *   host = 2
 *   [actors.params]
 *   socket_path = "/dev/shm/t3fs-usrbio.sock"   # where clients connect (default)
 *   mgmtd_node = 1          # the node whose mgmtd gives routing (default: this node)
 *   meta_nodes = [1]        # pins the meta servers to these nodes' actors named meta, meta2, … (default:
 *                           # those on mgmtd_node and the routing info's META nodes, followed as it changes)
 *   max_clients = 64        # connected processes at once
 *   max_regions = 64        # regions per connection
 *   max_rings = 16          # rings per connection
 *   max_open_files = 1024   # files per connection
 *   max_in_flight = 256     # I/Os (SQEs) in flight over all connections
 *   max_in_flight_ios = 128 # the FileClient's chunk I/Os in flight
 *   io_buffers = 64         # the FileClient's chunk-sized pool buffers (the pool must have them)
 *
 * The node needs a buffer pool whose largest slot holds a chunk (the FileClient's I/O buffers).
 */
import { defineActor, type ActorContext, type Message } from '../../../runtime/actor.ts'
import { invalidOption, T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import { listenLocalSocket, type LocalConnection, type LocalSocketServer } from '../../../runtime/local-socket.ts'
import type { RegionHandle } from '../../../runtime/regions-actor.ts'
import { createSealedMemory, mapSharedFile } from '../../../runtime/shared-memory.ts'
import { findClusterServices } from '../cluster-services.ts'
import { createFileClient, routingOf } from '../file-client-actor.ts'
import type { FileClient } from '../file-client.ts'
import { defaultSocketPath } from './layout.ts'
import { parseRequest } from './protocol.ts'
import { maxBadRequests, UsrbioSession, type SessionHost, type UsrbioLimits } from './session.ts'

/** How long init waits for mgmtd and meta to be found (they may start after this actor). */
export const lookupBudgetMs = 30_000

export interface UsrbioParams {
  socket_path?: string
  mgmtd_node?: number
  meta_nodes?: number[]
  max_clients?: number
  max_regions?: number
  max_rings?: number
  max_open_files?: number
  max_in_flight?: number
  max_in_flight_ios?: number
  io_buffers?: number
}

export type UsrbioMsg =
  | { type: 'open'; conn: LocalConnection }
  | { type: 'line'; conn: LocalConnection; value: unknown; error: string | null }
  | { type: 'gone'; conn: LocalConnection }
  | { type: 'continue'; run: () => void }
  | { type: 'status' }

export interface UsrbioStatus {
  socketPath: string
  clients: number
  inFlight: number
  /** Reads into server-made regions registered with the node: replicas pushed their bytes straight in. */
  pushedReads: number
}

interface State {
  readonly fs: FileClient
  readonly server: LocalSocketServer
  readonly sessions: Map<number, UsrbioSession>
  readonly host: (conn: LocalConnection) => SessionHost
  readonly inFlight: { count: number }
  readonly pushed: { reads: number }
}

function positive(params: UsrbioParams, field: keyof UsrbioParams, fallback: number, max: number): number {
  const v = params[field] ?? fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) throw invalidOption(`usrbio.${field}`, v, `an integer from 1 to ${max}`)
  return v
}

export function resolveUsrbioParams(params: UsrbioParams, ownNode: number): { socketPath: string; mgmtdNode: number; metaNodes: number[] | null; maxClients: number; limits: UsrbioLimits; maxInFlightIos: number; ioBuffers: number } {
  const known = ['socket_path', 'mgmtd_node', 'meta_nodes', 'max_clients', 'max_regions', 'max_rings', 'max_open_files', 'max_in_flight', 'max_in_flight_ios', 'io_buffers']
  for (const key of Object.keys(params)) if (!known.includes(key)) throw invalidOption(`usrbio.${key}`, (params as Record<string, unknown>)[key], `one of ${known.join(', ')}`)
  const socketPath = params.socket_path ?? defaultSocketPath
  if (typeof socketPath !== 'string' || !socketPath.startsWith('/') || socketPath.length > 100) throw invalidOption('usrbio.socket_path', socketPath, 'an absolute path of at most 100 bytes (a unix socket path)')
  const mgmtdNode = params.mgmtd_node ?? ownNode
  if (!Number.isInteger(mgmtdNode) || mgmtdNode < 0 || mgmtdNode > 0xffff) throw invalidOption('usrbio.mgmtd_node', mgmtdNode, 'a node id from 0 to 65535')
  const metaNodes = params.meta_nodes ?? null
  if (metaNodes !== null && (!Array.isArray(metaNodes) || metaNodes.length === 0 || !metaNodes.every((n) => Number.isInteger(n) && n >= 0 && n <= 0xffff))) throw invalidOption('usrbio.meta_nodes', metaNodes, 'a non-empty list of node ids')
  return {
    socketPath, mgmtdNode, metaNodes,
    maxClients: positive(params, 'max_clients', 64, 4096),
    limits: {
      maxRegions: positive(params, 'max_regions', 64, 65_535),
      maxRings: positive(params, 'max_rings', 16, 1024),
      maxOpenFiles: positive(params, 'max_open_files', 1024, 65_536),
      maxInFlight: positive(params, 'max_in_flight', 256, 65_536),
    },
    maxInFlightIos: positive(params, 'max_in_flight_ios', 128, 4096),
    ioBuffers: positive(params, 'io_buffers', 64, 4096),
  }
}

export const usrbioActor = defineActor<State, UsrbioMsg, UsrbioParams>({
  kind: 'usrbio',
  mailboxMax: 16_384,
  // The socket and the FileClient belong to one life; a crash stops the actor (clients reconnect to a restarted node).
  supervision: { strategy: 'stop' },
  async init(ctx, params) {
    const p = resolveUsrbioParams(params ?? {}, ctx.self.address.node)
    const { mgmtd, meta } = await findClusterServices(ctx, {
      mgmtdNode: p.mgmtdNode, mgmtdName: 'mgmtd', metaNodes: p.metaNodes, budgetMs: lookupBudgetMs, askTimeoutMs: 2_000,
      errorCode: 'ERR_USRBIO_START', who: 'usrbio', options: 'mgmtd_node and meta_nodes',
    })
    const fs = await createFileClient(ctx as unknown as ActorContext<Message>, { mgmtd: [mgmtd], meta: meta.current, description: `usrbio on node ${ctx.self.address.node}`, maxInFlightIos: p.maxInFlightIos, ioBuffers: p.ioBuffers })
    meta.followRouting(() => routingOf(fs))
    const self = ctx.self
    // Socket events enter the mailbox; a client that floods it past mailboxMax is cut off (its
    // 'gone' is sent with the waiting variant, so the session still ends).
    const enter = (conn: LocalConnection, message: UsrbioMsg): void => {
      try {
        self.tell(message)
      } catch {
        conn.close()
      }
    }
    const server = await listenLocalSocket(p.socketPath, {
      onOpen: (conn) => enter(conn, { type: 'open', conn }),
      onMessage: (conn, value, error) => enter(conn, { type: 'line', conn, value, error }),
      onClose: (conn) => void self.send({ type: 'gone', conn }).catch(() => {}),
    }, { maxConnections: p.maxClients }).catch(async (error: unknown) => {
      await fs.shutdown()
      throw error
    })
    const sessions = new Map<number, UsrbioSession>()
    // Server-made regions are registered with the node's regions: replicas push reads straight in.
    const regions = ctx.regions
    const inFlight = { count: 0 }
    const pushed = { reads: 0 }
    const host = (conn: LocalConnection): SessionHost => ({
      fs, limits: p.limits, inFlight, pushed,
      map: (path) => mapSharedFile(path),
      createSealed: (sizeBytes) => createSealedMemory(sizeBytes),
      send: (m) => conn.send(m),
      track: (work, then) => ctx.pipeToSelf(work, (outcome) => ({ type: 'continue', run: () => then(outcome) })),
      wakeAll: () => { if (inFlight.count < p.limits.maxInFlight) for (const s of sessions.values()) s.resume() },
      ...(regions === null ? {} : {
        registerShared: (path: string) => regions.registerShared(path),
        unregisterRegion: (region: RegionHandle) => void regions.unregister(region).catch(() => {}),
      }),
    })
    ctx.log.info({ evt: 'UsrbioListening', socketPath: p.socketPath }, `usrbio serving on ${p.socketPath}`)
    return { fs, server, sessions, host, inFlight, pushed }
  },
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'open':
        state.sessions.set(msg.conn.id, new UsrbioSession(state.host(msg.conn)))
        return
      case 'line': {
        const session = state.sessions.get(msg.conn.id)
        if (session === undefined || session.cutOff) return
        try {
          if (msg.error !== null) throw new T3fsError('ERR_USRBIO_REQUEST', msg.error)
          session.request(parseRequest(msg.value))
        } catch (error) {
          const e = toT3fsError(error)
          const id = (msg.value as { id?: unknown } | null)?.id
          msg.conn.send({ id: typeof id === 'number' ? id : null, ok: false, code: e.code, message: e.message })
          if (session.rejected()) {
            ctx.log.warn({ evt: 'UsrbioClientCutOff', badRequests: maxBadRequests }, `usrbio: a client sent more than ${maxBadRequests} malformed requests; closing its connection`)
            msg.conn.close()
          }
        }
        return
      }
      case 'gone':
        state.sessions.get(msg.conn.id)?.end()
        state.sessions.delete(msg.conn.id)
        return
      case 'continue':
        msg.run()
        return
      case 'status':
        return ctx.reply({ socketPath: state.server.path, clients: state.sessions.size, inFlight: state.inFlight.count, pushedReads: state.pushed.reads } satisfies UsrbioStatus)
    }
  },
  async onStop(state) {
    for (const s of state.sessions.values()) s.end()
    await state.server.close()
    await state.fs.shutdown().catch(() => {})
  },
})
