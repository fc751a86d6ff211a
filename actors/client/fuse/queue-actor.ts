/**
 * An extra queue of a FUSE mount (`fuseQueue`), on another worker host than the mount actor: it
 * clones the mount's /dev/fuse fd (FUSE_DEV_IOC_CLONE), keeps `reads_per_queue` reads posted on
 * its own thread's io_uring, each into a pool slot, and forwards each request it reads to the
 * mount actor by slot (no copy). The kernel hands a request to whichever queue reads first, so
 * the copies of request data out of the kernel spread over the queues' threads; the mount actor
 * answers on this queue's fd (a reply must go back on the fd that read its request).
 *
 * Params: `mount` (the mount actor's name on this node, default "fuse").
 */
import { defineActor, type ActorContext, type ActorRef } from '../../../runtime/actor.ts'
import type { ActorAddress } from '../../../runtime/address.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { invalidOption, isT3fsError, T3fsError } from '../../../runtime/errors.ts'
import { FuseDevice } from '../../../runtime/fuse-device.ts'
import { registryAddress, type RegistryMsg } from '../../../runtime/registry.ts'
import { postDeviceReads } from './device-reads.ts'
import { RETRYABLE_READ_CODES, type FuseMountMsg, type FuseQueueMsg, type QueueAttachment } from './protocol.ts'

/** The mount answers attach once it is up; it may first wait (up to a minute) for mgmtd to become primary. */
const ATTACH_TIMEOUT_MS = 90_000

export interface FuseQueueArgs {
  readonly mount?: string
}

interface State {
  readonly mount: ActorRef<FuseMountMsg>
  readonly device: FuseDevice | null
  readonly attachment: QueueAttachment | null
  reading: number
  ended: boolean
  rearmScheduled: boolean
  forwarded: number
}

type Ctx = ActorContext<FuseQueueMsg>

export const fuseQueue = defineActor<State, FuseQueueMsg, FuseQueueArgs>({
  kind: 'fuse-queue',
  supervision: { strategy: 'stop' },
  async init(ctx, args) {
    const name = args?.mount ?? 'fuse'
    if (typeof name !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(name)) throw invalidOption('fuse-queue.mount', name, 'the name of the fuseMount actor on this node')
    const registry = ctx.refFor<RegistryMsg>(registryAddress(ctx.self.address.node))
    const address = (await ctx.ask(registry, { type: 'lookup', name }, { timeoutMs: ATTACH_TIMEOUT_MS })) as ActorAddress | null
    if (address === null) throw new T3fsError('ERR_FUSE_QUEUE', `no actor named ${name} on this node to be a queue of (param mount)`, {})
    const mount = ctx.refFor<FuseMountMsg>(address)
    let attachment: QueueAttachment
    try {
      attachment = (await ctx.ask(mount, { type: 'attach', queue: String(ctx.self.address.id) }, { timeoutMs: ATTACH_TIMEOUT_MS })) as QueueAttachment
    } catch (error) {
      if (!isT3fsError(error, 'ERR_FUSE_NOT_MOUNTED')) throw error
      ctx.log.info({ evt: 'FuseQueueIdle', reason: error.message })
      return { mount, device: null, attachment: null, reading: 0, ended: true, rearmScheduled: false, forwarded: 0 }
    }
    const state: State = { mount, device: FuseDevice.clone(attachment.fd), attachment, reading: 0, ended: false, rearmScheduled: false, forwarded: 0 }
    arm(state, ctx)
    return state
  },
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'read-done': return onRead(state, ctx, msg.buffer, msg.length, msg.code)
      case 'rearm':
        state.rearmScheduled = false
        return arm(state, ctx)
    }
  },
  onStop(state) {
    void state.device?.close()
  },
})

function arm(state: State, ctx: Ctx): void {
  const { device, attachment } = state
  if (device === null || attachment === null) return
  postDeviceReads(ctx, state, device, attachment.readBufferBytes, () => !state.ended && state.reading < attachment.reads)
}

function onRead(state: State, ctx: Ctx, buffer: PooledBuffer, length: number | null, code: string | null): void {
  state.reading--
  if (length !== null) {
    state.forwarded++
    ctx.tell(state.mount, { type: 'forward', fd: state.device!.fd, buffer, length })
    return arm(state, ctx)
  }
  buffer.release()
  if (code === 'ENODEV' || code === 'ECONNABORTED' || code === 'EBADF') {
    state.ended = true
    return
  }
  if (!RETRYABLE_READ_CODES.has(code ?? '')) ctx.log.warn({ evt: 'FuseQueueReadFailed', code })
  arm(state, ctx)
}
