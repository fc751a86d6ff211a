/**
 * A small replicated protocol for the simulator to check: a register kept by three replicas,
 * written with versions and read by quorum. With write quorum W and read quorum R over N = 3
 * replicas, a read that starts after a write was acknowledged sees it only when W + R > N; the
 * deliberately buggy variant (W = 1, R = 2) breaks that, and the simulator must find a seed that
 * shows it.
 */
import { defineActor, type ActorContext, type ActorRef, type Returns } from '../../runtime/actor.ts'

export interface Versioned {
  version: number
  value: string
}

export type ReplicaMsg = ({ type: 'write' } & Versioned & Returns<'ack'>) | ({ type: 'read' } & Returns<Versioned>)

interface ReplicaState extends Versioned {
  readonly disk: Map<string, unknown>
}

/** A replica persists every accepted write to its node's disk, so a crash loses nothing acknowledged. */
export const replica = defineActor<ReplicaState, ReplicaMsg, { disk: Map<string, unknown> }>({
  kind: 'register-replica',
  supervision: { strategy: 'restart', backoffMinMs: 1, backoffMaxMs: 20, maxRestarts: 1000 },
  init: (_ctx, { disk }) => ({ ...((disk.get('register') as Versioned | undefined) ?? { version: 0, value: '' }), disk }),
  handle(state, msg, ctx) {
    if (msg.type === 'read') {
      ctx.reply({ version: state.version, value: state.value })
      return
    }
    if (msg.version <= state.version) {
      ctx.reply('ack') // duplicates and stale retries are idempotent
      return
    }
    const saved: Versioned = { version: msg.version, value: msg.value }
    state.disk.set('register', saved)
    ctx.reply('ack')
    return { ...saved, disk: state.disk }
  },
})

export interface Operation {
  kind: 'write' | 'read'
  version: number
  startMs: number
  endMs: number
}

export type ClientMsg = { type: 'run'; operations: number } & Returns<Operation[]>

export interface ClientArgs {
  replicas: ActorRef<ReplicaMsg>[]
  writeQuorum: number
  readQuorum: number
}

const attemptTimeoutMs = 25
const attemptsMax = 200

/** Asks every replica until `needed` of them answered; retries lost or late attempts. */
function quorum<T>(ctx: ActorContext<ClientMsg>, replicas: ActorRef<ReplicaMsg>[], message: ReplicaMsg, needed: number): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const answers: T[] = []
    let finished = false
    const attempt = (target: ActorRef<ReplicaMsg>, tries: number): void => {
      ctx.ask(target, message, { timeoutMs: attemptTimeoutMs }).then(
        (answer) => {
          if (finished) return
          answers.push(answer as T)
          if (answers.length === needed) {
            finished = true
            resolve(answers)
          }
        },
        () => {
          if (tries + 1 < attemptsMax) attempt(target, tries + 1)
          else if (!finished) {
            finished = true
            reject(new Error('quorum not reached'))
          }
        },
      )
    }
    for (const target of replicas) attempt(target, 0)
  })
}

export const client = defineActor<ClientArgs & { nextVersion: number }, ClientMsg, ClientArgs>({
  kind: 'register-client',
  init: (_ctx, args) => ({ ...args, nextVersion: 0 }),
  async handle(state, msg, ctx) {
    const history: Operation[] = []
    for (let i = 0; i < msg.operations; i++) {
      const startMs = ctx.clock.now()
      if (ctx.random.next() < 0.5) {
        const version = ++state.nextVersion
        await quorum(ctx, state.replicas, { type: 'write', version, value: `v${version}` }, state.writeQuorum)
        history.push({ kind: 'write', version, startMs, endMs: ctx.clock.now() })
      } else {
        const answers = await quorum<Versioned>(ctx, state.replicas, { type: 'read' }, state.readQuorum)
        history.push({ kind: 'read', version: Math.max(...answers.map((a) => a.version)), startMs, endMs: ctx.clock.now() })
      }
    }
    ctx.reply(history)
  },
})

/** Returns a description of the first read that missed an acknowledged write, or null. */
export function findStaleRead(history: Operation[]): string | null {
  for (const read of history) {
    if (read.kind !== 'read') continue
    for (const write of history) {
      if (write.kind === 'write' && write.endMs < read.startMs && read.version < write.version) {
        return `read at ${read.startMs.toFixed(2)} ms returned version ${read.version}, but version ${write.version} was acknowledged at ${write.endMs.toFixed(2)} ms`
      }
    }
  }
  return null
}
