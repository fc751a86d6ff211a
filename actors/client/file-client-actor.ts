/**
 * The FileClient's actor: its context is the one the client does I/O through (pool buffers and
 * their regions, asks, clock, randomness), and it drives the client's timers — routing pushed by
 * mgmtd (it subscribes) and refreshed every `routingRefreshMs`, the mgmtd registration renewed
 * every `sessionExtendIntervalMs`, the periodic length sync every `syncIntervalMs`.
 *
 * The client object runs on the actor's thread, beside it: callers use the FileClient directly
 * (each method is async and runs outside the mailbox), so many operations are in flight at once.
 */
import { defineActor, type ActorContext, type ActorRef, type Message } from '../../runtime/actor.ts'
import type { ActorSystem } from '../../runtime/actor-system.ts'
import type { RoutingInfo, RoutingUpdate } from '../mgmtd/protocol.ts'
import type { FileClient, FileClientOptions } from './file-client.ts'
import { FileClientImpl } from './file-client-impl.ts'

/** Routing is refetched this often even without pushes (a missed push, a restarted mgmtd). */
export const routingRefreshMs = 5_000

export type FileClientActorMsg =
  | RoutingUpdate
  | { type: 'refresh' }
  | { type: 'extend-session' }
  | { type: 'sync-tick' }

interface Holder {
  client: FileClientImpl | null
}

interface FileClientActorArgs {
  readonly options: FileClientOptions
  readonly holder: Holder
  readonly started: (ctx: ActorContext<Message>) => void
}

export const fileClientActor = defineActor<Holder, FileClientActorMsg, FileClientActorArgs>({
  kind: 'file-client',
  mailboxMax: 1024,
  // The client object holds this context: a restart would leave it with a fenced one.
  supervision: { strategy: 'stop' },
  init(ctx, args) {
    args.started(ctx as unknown as ActorContext<Message>)
    return args.holder
  },
  handle(holder, msg, ctx) {
    const client = holder.client
    if (client === null) {
      if (msg.type !== 'routing-info') ctx.schedule(50, msg) // still starting
      return
    }
    switch (msg.type) {
      case 'routing-info':
        return client.storage.noteRouting(msg.info)
      case 'refresh':
        ctx.schedule(routingRefreshMs, { type: 'refresh' })
        subscribe(ctx, client)
        void client.storage.refreshRouting().catch(() => {})
        return
      case 'extend-session':
        ctx.schedule(client.sessionExtendIntervalMs, { type: 'extend-session' })
        void client.extendSession().catch(() => {})
        return
      case 'sync-tick':
        ctx.schedule(client.syncIntervalMs, { type: 'sync-tick' })
        void client.syncDirty().catch(() => {})
        return
    }
  },
})

function subscribe(ctx: ActorContext<FileClientActorMsg>, client: FileClientImpl): void {
  for (const m of client.mgmtds) {
    try {
      ctx.tell(m, { type: 'subscribe', subscriber: ctx.self as never })
    } catch {
      // unreachable now: the next refresh tries again
    }
  }
}

type Spawner = (args: FileClientActorArgs) => ActorRef<FileClientActorMsg>

async function start(spawn: Spawner, stop: (ref: ActorRef<FileClientActorMsg>) => void, options: FileClientOptions, afterStop?: () => Promise<void>): Promise<FileClient> {
  const holder: Holder = { client: null }
  let started!: (ctx: ActorContext<Message>) => void
  const context = new Promise<ActorContext<Message>>((resolve) => { started = resolve })
  const ref = spawn({ options, holder, started })
  const ctx = await context
  try {
    holder.client = await FileClientImpl.start(ctx, options, async () => {
      stop(ref)
      await afterStop?.()
    })
  } catch (error) {
    stop(ref)
    throw error
  }
  for (const type of ['refresh', 'extend-session', 'sync-tick'] as const) ref.tell({ type })
  return holder.client
}

/** A FileClient on `system` (host 0 of a NodeRuntime, or any ActorSystem with a buffer pool and regions). */
export function startFileClient(system: ActorSystem, options: FileClientOptions): Promise<FileClient> {
  return start((args) => system.spawn(fileClientActor, args), (ref) => system.stop(ref), options)
}

/** startFileClient, and `afterStop` once the client shut down (connectFileClient closes its node there). */
export function startFileClientWith(system: ActorSystem, options: FileClientOptions, afterStop: () => Promise<void>): Promise<FileClient> {
  return start((args) => system.spawn(fileClientActor, args), (ref) => system.stop(ref), options, afterStop)
}

/** A FileClient for an actor: a child actor of `ctx` does the I/O; use it from that actor's thread. */
export function createFileClient(ctx: ActorContext<Message>, options: FileClientOptions): Promise<FileClient> {
  return start((args) => ctx.spawn(fileClientActor, args), (ref) => ctx.stop(ref), options)
}

/** The newest routing info `client` holds (pushed by mgmtd, refetched every routingRefreshMs); null before the first. */
export function routingOf(client: FileClient): RoutingInfo | null {
  return client instanceof FileClientImpl ? client.storage.routing : null
}
