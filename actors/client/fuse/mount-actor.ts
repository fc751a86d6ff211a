/**
 * The FUSE mount actor (`fuseMount`): mounts t3fs at its mount point and serves the kernel.
 *
 * At start it clears a mount a killed server left behind, opens /dev/fuse, mounts, and creates its
 * FileClient (a child actor on this host). It reads requests on its own queue, `reads_per_queue`
 * reads posted on this thread's io_uring, each into a pool slot; more queues (`fuseQueue` actors
 * on other worker hosts, each on a clone of the fd) read in parallel and forward what they read
 * here by slot. All of the mount's state — the FileClient with its write-behind buffers, open
 * handles, the kernel's inode table — lives in this one actor, so every request sees every write
 * the mount took; each request runs as its own operation (up to `max_in_flight` at once, beyond
 * which this queue stops reading) and is answered on the queue that read it.
 *
 * Not root: mount(2) is refused; the actor says how to mount and stays up (the cluster still
 * serves FileClients). On `unmount` (the launcher's Ctrl-C path) or stop it unmounts — lazily when
 * files are still open — so nothing stays mounted.
 */
import { isAbsolute, join } from 'node:path'
import { defineActor, type ActorContext, type ActorRef, type Message } from '../../../runtime/actor.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { isT3fsError, T3fsError, toT3fsError } from '../../../runtime/errors.ts'
import { FuseDevice, mountFuse, prepareMountPoint, setMountReadAhead, unmountFuse } from '../../../runtime/fuse-device.ts'
import type { MgmtdMsg } from '../../mgmtd/protocol.ts'
import { findClusterServices } from '../cluster-services.ts'
import { createFileClient, routingOf } from '../file-client-actor.ts'
import type { FileClient } from '../file-client.ts'
import type { LentBytes } from '../lent-bytes.ts'
import { resolveFuseConfig, type FuseConfig } from './config.ts'
import { postDeviceReads } from './device-reads.ts'
import { REQUEST_HEADROOM_BYTES } from './kernel-protocol.ts'
import { RETRYABLE_READ_CODES, type FuseMountMsg, type FuseStatus } from './protocol.ts'
import { revalidate } from './revalidator.ts'
import { RequestSlot, SlotRegions } from './request-slot.ts'
import { FuseSession } from './session.ts'

export const FUSE_TYPE = 'fuse.t3fs'
const LOOKUP_TIMEOUT_MS = 5_000
const PRIMARY_WAIT_MS = 60_000
const PRIMARY_POLL_MS = 200
/** After umount2, how long the mount serves requests still coming (RELEASEs) before it stops its client. */
const UNMOUNT_DRAIN_MS = 10_000

export interface FuseMountArgs {
  readonly [param: string]: unknown
  /** The node's root (the launcher hands it over: needs ['root']); a relative mount_point resolves against it. */
  readonly nodeRoot?: string
  /** node.cluster_id (the launcher hands it over: needs ['cluster']): the mount's name, t3fs.<id>, unless cluster_id is given. */
  readonly nodeClusterId?: string
}

interface State {
  readonly config: FuseConfig
  readonly mountPoint: string
  readonly readBufferBytes: number
  client: FileClient | null
  session: FuseSession | null
  master: FuseDevice | null
  mounted: boolean
  reason: string | null
  /** Reads posted on the mount's own queue. */
  reading: number
  inFlight: number
  rearmScheduled: boolean
  revalidating: boolean
  /** Queues of fuseQueue actors, by fd (replies to what they read go back on them), and the mount's own. */
  readonly queues: Map<number, FuseDevice>
  /** fuseQueue actors that attached. */
  attached: number
  /** The kernel's read-ahead was set (after INIT). */
  readAheadSet: boolean
  /** The kernel ended the connection (reads fail with ENODEV): no request will come any more. */
  connectionEnded: boolean
  /** Set while an unmount waits for the last requests (RELEASEs of closed files) to be served. */
  drained: (() => void) | null
  /** Request slots registered as regions, so WRITE data goes to storage from where it was read. */
  readonly slotRegions: SlotRegions
}

type Ctx = ActorContext<FuseMountMsg>

export const fuseMount = defineActor<State, FuseMountMsg, FuseMountArgs>({
  kind: 'fuse-mount',
  needs: ['root', 'cluster'],
  mailboxMax: 4096,
  // The mount is not restartable in place (its fd and the kernel's state go with it): a failure
  // stops it, and stopping unmounts.
  supervision: { strategy: 'stop' },
  async init(ctx, args) {
    const { nodeRoot, nodeClusterId, ...params } = args
    const named = nodeClusterId === undefined || 'cluster_id' in params || 'clusterId' in params
    const config = resolveFuseConfig(named ? params : { ...params, cluster_id: nodeClusterId })
    const mountPoint = isAbsolute(config.mountPoint) ? config.mountPoint : join(nodeRoot ?? process.cwd(), config.mountPoint)
    const state: State = {
      config, mountPoint, readBufferBytes: config.maxWriteBytes + REQUEST_HEADROOM_BYTES, client: null, session: null, master: null, mounted: false,
      reason: null, reading: 0, inFlight: 0, rearmScheduled: false, revalidating: false, queues: new Map(), attached: 0, readAheadSet: false, connectionEnded: false, drained: null,
      slotRegions: new SlotRegions(),
    }
    if (ctx.buffers === null || ctx.buffers.largestBytes < state.readBufferBytes) {
      throw new T3fsError('ERR_FUSE_POOL', `the FUSE mount reads requests into pool slots of ${state.readBufferBytes} bytes (max_write + 4 KiB); the node's largest slot is ${ctx.buffers?.largestBytes ?? 0}: add a [[buffer_pool]] class of at least ${state.readBufferBytes} bytes`, {})
    }
    const { mgmtd, meta } = await findClusterServices(ctx, {
      mgmtdNode: config.mgmtdNode, mgmtdName: config.mgmtdName, metaNodes: config.metaNodes, budgetMs: PRIMARY_WAIT_MS, askTimeoutMs: LOOKUP_TIMEOUT_MS,
      errorCode: 'ERR_FUSE_CLUSTER', who: `the FUSE mount at ${mountPoint}`, options: 'mgmtd_node, mgmtd_name and meta_nodes',
    })
    await untilPrimary(ctx, mgmtd)
    const client = await createFileClient(ctx as unknown as ActorContext<Message>, {
      mgmtd: [mgmtd], meta: meta.current, description: `fuse mount ${mountPoint}`, writeBufferBytes: config.writeBufferBytes, readAheadBytes: config.readAheadBytes,
    })
    meta.followRouting(() => routingOf(client))
    state.client = client
    state.session = new FuseSession({ client: state.client, config, clock: ctx.clock, log: ctx.log.child({ component: 'fuse' }), metrics: ctx.metrics })
    await mount(ctx, state)
    return state
  },
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'read-done': return onRead(state, ctx, msg.buffer, msg.length, msg.code)
      case 'forward': {
        let dev = state.queues.get(msg.fd)
        if (dev === undefined) state.queues.set(msg.fd, (dev = FuseDevice.borrow(msg.fd)))
        return serveSlot(state, ctx, msg.buffer, msg.length, dev)
      }
      case 'served':
        msg.slot?.drop()
        state.inFlight--
        checkDrained(state)
        if (!state.readAheadSet && state.session?.kernel != null) setReadAhead(state, ctx)
        return arm(state, ctx)
      case 'read-ahead-set':
        if (msg.error !== null) ctx.log.warn({ evt: 'FuseReadAheadNotSet', mountPoint: state.mountPoint, err: msg.error }, `the kernel's read-ahead on ${state.mountPoint} stays at its default: ${msg.error}`)
        return
      case 'rearm':
        state.rearmScheduled = false
        return arm(state, ctx)
      case 'revalidate': return startRevalidate(state, ctx)
      case 'revalidated':
        state.revalidating = false
        if (state.mounted && state.config.revalidateIntervalMs > 0) ctx.schedule(state.config.revalidateIntervalMs, { type: 'revalidate' })
        return
      case 'attach': {
        if (!state.mounted || state.master === null) throw new T3fsError('ERR_FUSE_NOT_MOUNTED', `${state.mountPoint} is not mounted: ${state.reason ?? 'unmounted'}`, { mountPoint: state.mountPoint })
        state.attached++
        ctx.log.info({ evt: 'FuseQueueAttached', queue: msg.queue })
        ctx.reply({ fd: state.master.fd, readBufferBytes: state.readBufferBytes, reads: state.config.readsPerQueue })
        return
      }
      case 'status': return ctx.reply(statusOf(state))
      case 'unmount': {
        const reply = ctx.deferReply()
        unmountNow(state, ctx).then((unmounted) => reply.resolve({ unmounted }), (error: unknown) => reply.reject(toT3fsError(error)))
        return
      }
    }
  },
  onStop(state, ctx) {
    if (state.mounted) void unmountNow(state, ctx).catch(() => {})
  },
})

/**
 * Waits (bounded) until `mgmtd` is primary: a mount started with its cluster (npm start) may ask
 * before mgmtd took the lease, and its FileClient cannot register before.
 */
async function untilPrimary(ctx: Ctx, mgmtd: ActorRef<MgmtdMsg>): Promise<void> {
  const deadline = ctx.clock.now() + PRIMARY_WAIT_MS
  for (;;) {
    const status = (await ctx.ask(mgmtd, { type: 'status' }, { timeoutMs: LOOKUP_TIMEOUT_MS }).catch(() => null)) as { primary?: boolean } | null
    if (status?.primary === true) return
    if (ctx.clock.now() > deadline) throw new T3fsError('ERR_FUSE_CLUSTER', `mgmtd did not become primary within ${PRIMARY_WAIT_MS} ms; the mount cannot start without it`, {})
    await new Promise<void>((resolve) => ctx.clock.setTimer(PRIMARY_POLL_MS, resolve))
  }
}

async function mount(ctx: Ctx, state: State): Promise<void> {
  const { config, mountPoint } = state
  const { clearedStale } = await prepareMountPoint(mountPoint, FUSE_TYPE, { create: config.createMountPoint })
  if (clearedStale) ctx.log.warn({ evt: 'FuseStaleMountCleared', mountPoint }, `unmounted a stale t3fs mount at ${mountPoint} (its server had died)`)
  const master = FuseDevice.open()
  try {
    await mountFuse({
      target: mountPoint, fd: master.fd, source: `t3fs.${config.clusterId}`, subtype: 't3fs', maxRead: config.maxWriteBytes,
      allowOther: config.allowOther, defaultPermissions: config.defaultPermissions, userId: process.getuid?.() ?? 0, groupId: process.getgid?.() ?? 0,
    })
  } catch (error) {
    await master.close()
    if (!isT3fsError(error, 'EPERM')) throw error
    state.reason = `mounting needs root: run \`sudo npm start\` (or t3fs launch as root); without it the cluster still serves FileClients (connectFileClient from t3fs/client)`
    ctx.log.warn({ evt: 'FuseNotMounted', mountPoint, reason: state.reason }, `${mountPoint} not mounted: ${state.reason}`)
    return
  }
  state.master = master
  state.mounted = true
  state.queues.set(master.fd, master)
  arm(state, ctx)
  if (config.revalidateIntervalMs > 0) ctx.schedule(config.revalidateIntervalMs, { type: 'revalidate' })
  ctx.log.info({ evt: 'FuseMounted', mountPoint, maxWrite: config.maxWriteBytes }, `t3fs mounted at ${mountPoint}`)
}

/** Posts reads on the mount's own queue up to reads_per_queue (fewer while max_in_flight requests run). */
function arm(state: State, ctx: Ctx): void {
  const master = state.master
  if (master === null) return
  postDeviceReads(ctx, state, master, state.readBufferBytes, () => state.mounted && state.reading < state.config.readsPerQueue && state.inFlight + state.reading < state.config.maxInFlight)
}

function onRead(state: State, ctx: Ctx, buffer: PooledBuffer, length: number | null, code: string | null): void {
  state.reading--
  if (length !== null && state.master !== null) return serveSlot(state, ctx, buffer, length, state.master)
  buffer.release()
  if (code === 'ENODEV' || code === 'ECONNABORTED' || code === 'EBADF') {
    // Unmounted (or the connection was aborted): this queue is done.
    if (state.mounted && state.drained === null) ctx.log.warn({ evt: 'FuseConnectionEnded', mountPoint: state.mountPoint, code })
    state.mounted = false
    state.connectionEnded = true
    checkDrained(state)
    return
  }
  // Dropped by the kernel, or taken by another queue: read again (anything else is logged, then read again too).
  if (!RETRYABLE_READ_CODES.has(code ?? '')) ctx.log.warn({ evt: 'FuseReadFailed', code })
  arm(state, ctx)
}

/**
 * Starts one request read into `buffer` (the slot goes back as soon as the request no longer reads
 * it). A WRITE keeps its slot and lends its data from there once the slot is registered.
 */
function serveSlot(state: State, ctx: Ctx, buffer: PooledBuffer, length: number, dev: FuseDevice): void {
  const session = state.session!
  const request = session.decode(buffer.bytes.subarray(0, length), dev)
  const slot = request !== null && FuseSession.needsBytes(request) ? new RequestSlot(buffer) : null
  if (slot === null) buffer.release()
  let lent: LentBytes | undefined
  if (slot !== null && request?.kind === 'WRITE') {
    const region = state.slotRegions.regionOf(ctx as unknown as ActorContext<Message>, buffer, (error) => {
      ctx.log.warn({ evt: 'FuseSlotNotRegistered', err: (error as Error).message }, `a FUSE request slot could not be registered; WRITEs read into it are copied: ${(error as Error).message}`)
    })
    if (region !== null) lent = slot.lend(request.data, region)
  }
  state.inFlight++
  const done = request === null ? Promise.resolve() : session.handle(request, dev, lent)
  ctx.pipeToSelf(done, () => ({ type: 'served', slot }))
  arm(state, ctx)
}

/** Once INIT was answered: widens the kernel's read-ahead on the mount (kernel_read_ahead). */
function setReadAhead(state: State, ctx: Ctx): void {
  state.readAheadSet = true
  if (state.config.kernelReadAheadBytes === 0) return
  ctx.pipeToSelf(setMountReadAhead(state.mountPoint, state.config.kernelReadAheadBytes), (o) => ({ type: 'read-ahead-set', error: o.ok ? null : o.error.message }))
}

function startRevalidate(state: State, ctx: Ctx): void {
  if (state.revalidating || state.session?.kernel == null || state.master === null || !state.mounted) return
  state.revalidating = true
  const session = state.session
  ctx.pipeToSelf(revalidate(session, state.master).catch((error: unknown) => {
    session.log.debug({ evt: 'FuseRevalidateFailed', err: (error as Error).message })
  }), () => ({ type: 'revalidated' }))
}

function statusOf(state: State): FuseStatus {
  const s = state.session
  const c = s?.counters
  return {
    mountPoint: state.mountPoint, mounted: state.mounted, reason: state.reason,
    kernel: s?.kernel ? `7.${s.kernel.minor}` : null, queues: (state.master === null ? 0 : 1) + state.attached, inFlight: state.inFlight,
    requests: c?.requests ?? 0, errors: c?.errors ?? 0, ioErrors: c?.ioErrors ?? 0, bytesRead: c?.bytesRead ?? 0, bytesWritten: c?.bytesWritten ?? 0,
    notifications: c?.notifications ?? 0, pageCacheDrops: c?.pageCacheDrops ?? 0, revalidations: c?.revalidations ?? 0, knownNodes: s?.table.size ?? 0, openHandles: s?.handles.size ?? 0, byKind: { ...(c?.byKind ?? {}) },
    client: state.client?.stats() ?? null,
  }
}

function checkDrained(state: State): void {
  if (state.drained !== null && state.connectionEnded && state.inFlight === 0) {
    const done = state.drained
    state.drained = null
    done()
  }
}

/**
 * Unmounts (lazily when busy: open files keep the old mount until closed), serves what the kernel
 * still sends until it ends the connection (the RELEASEs of files closed just before: each ends a
 * write session and sets the file's length in meta), then flushes and stops the client. A lazy
 * unmount with files still open waits at most `UNMOUNT_DRAIN_MS`; the client then closes them.
 */
async function unmountNow(state: State, ctx: Ctx): Promise<boolean> {
  const wasMounted = state.mounted || state.master !== null
  if (wasMounted && !state.connectionEnded) {
    const drained = new Promise<void>((resolve) => {
      state.drained = resolve
      ctx.clock.setTimer(UNMOUNT_DRAIN_MS, resolve)
    })
    await unmountFuse(state.mountPoint).catch(async (error: unknown) => {
      if (isT3fsError(error, 'EBUSY')) return unmountFuse(state.mountPoint, { lazy: true })
      if (isT3fsError(error, 'EINVAL')) return // already gone
      throw error
    })
    ctx.log.info({ evt: 'FuseUnmounted', mountPoint: state.mountPoint })
    checkDrained(state)
    await drained
    state.drained = null
  }
  state.mounted = false
  const client = state.client
  state.client = null
  await client?.shutdown().catch((error: unknown) => ctx.log.warn({ evt: 'FuseClientShutdownFailed', err: (error as Error).message }))
  await state.master?.close()
  state.master = null
  return wasMounted
}
