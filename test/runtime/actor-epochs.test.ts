import t from 'tap'
import { ActorSystem } from '../../runtime/actor-system.ts'
import { defineActor, type ActorContext, type Outcome, type Returns } from '../../runtime/actor.ts'
import { allocateBufferPool, BufferPool, type PooledBuffer } from '../../runtime/buffer-pool.ts'
import { silentLogger } from '../../runtime/logger.ts'
import { flushMicrotasks, VirtualClock } from '../../runtime/testkit/virtual-clock.ts'

function world() {
  const clock = new VirtualClock()
  const pool = new BufferPool(allocateBufferPool({ classes: [{ slotBytes: 4096, slots: 8 }] }))
  const system = new ActorSystem({ clock, log: silentLogger, bufferPool: pool })
  const advance = async (ms: number) => {
    const target = clock.now() + ms
    await flushMicrotasks()
    for (let next = clock.nextAtMs(); next !== null && next <= target; next = clock.nextAtMs()) {
      clock.fireNext()
      await flushMicrotasks()
    }
    clock.advanceTo(target)
    await flushMicrotasks()
  }
  return { clock, pool, system, advance }
}

/** A promise settled from outside, standing for a disk or network operation in flight. */
function pending<T>() {
  let resolve!: (value: T) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

type WorkerMsg =
  | { type: 'start'; id: number }
  | { type: 'done'; id: number; outcome: Outcome<string> }
  | ({ type: 'results' } & Returns<string[]>)
  | ({ type: 'slow' } & Returns<string>)
  | ({ type: 'deferred' } & Returns<string>)
  | { type: 'crash' }
  | ({ type: 'hold'; count: number } & Returns<number>)
  | ({ type: 'take'; buffer: PooledBuffer } & Returns<number>)
  | ({ type: 'wait-for-slot'; timeoutMs: number } & Returns<string>)

interface WorkerState { results: string[]; kept: PooledBuffer[] }

function workerDef(ops: Map<number, ReturnType<typeof pending<string>>>, zombie: { ctx: ActorContext<WorkerMsg> | null; gate: ReturnType<typeof pending<void>> }) {
  return defineActor<WorkerState, WorkerMsg, void>({
    kind: 'worker',
    mailboxMax: 4,
    supervision: { strategy: 'restart', maxRestarts: 10, withinMs: 60_000, backoffMinMs: 1, backoffMaxMs: 1 },
    init: () => ({ results: [], kept: [] }),
    handle(state, msg, ctx) {
      switch (msg.type) {
        case 'start': {
          const op = pending<string>()
          ops.set(msg.id, op)
          ctx.pipeToSelf(op.promise, (outcome) => ({ type: 'done', id: msg.id, outcome }))
          return
        }
        case 'done':
          state.results.push(msg.outcome.ok ? `${msg.id}:${msg.outcome.value}` : `${msg.id}:${msg.outcome.error.code}`)
          return
        case 'results':
          ctx.reply(state.results)
          return
        case 'slow':
          zombie.ctx = ctx
          return zombie.gate.promise.then(() => { ctx.reply('late answer from the old life') })
        case 'deferred':
          ctx.deferReply()
          return
        case 'crash':
          throw new Error('boom')
        case 'hold':
          for (let i = 0; i < msg.count; i++) state.kept.push(ctx.buffers!.tryAllocate(100)!)
          ctx.reply(state.kept.length)
          return
        case 'take':
          state.kept.push(msg.buffer)
          ctx.reply(state.kept.length)
          return
        case 'wait-for-slot':
          return ctx.buffers!.allocate(4096, { timeoutMs: msg.timeoutMs }).then(
            (buffer) => { state.kept.push(buffer); ctx.reply('got one') },
            (error: { code: string }) => { ctx.reply(error.code) },
          )
      }
    },
  })
}

function setup() {
  const w = world()
  const ops = new Map<number, ReturnType<typeof pending<string>>>()
  const zombie = { ctx: null as ActorContext<WorkerMsg> | null, gate: pending<void>() }
  const ref = w.system.spawn(workerDef(ops, zombie), undefined)
  return { ...w, ops, zombie, ref }
}

t.test('pipeToSelf: many operations in flight, the mailbox free meanwhile, completions queued past its bound', async (t) => {
  const { ref, ops, advance } = setup()
  for (let id = 1; id <= 4; id++) ref.tell({ type: 'start', id })
  await advance(1)
  t.equal(ops.size, 4, 'all four started without waiting for each other')
  t.same(await ref.ask({ type: 'results' }), [], 'the actor answers while its work is in flight')
  // Completions in another order than the starts, more of them at once than the mailbox holds.
  ops.get(3)!.resolve('c')
  ops.get(1)!.reject(Object.assign(new Error('disk said no'), { code: 'EIO' }))
  ops.get(4)!.resolve('d')
  ops.get(2)!.resolve('b')
  await advance(1)
  t.same(await ref.ask({ type: 'results' }), ['3:c', '1:EIO', '4:d', '2:b'], 'each outcome arrives once, as a message, in completion order')
})

t.test('a crashed actor: its running handler is fenced, its asker is told at once, its piped work is dropped', async (t) => {
  const { ref, ops, zombie, advance, system } = setup()
  ref.tell({ type: 'start', id: 1 })
  await advance(1)
  const slow = ref.ask({ type: 'slow' }, { timeoutMs: 10_000 }).catch((error: { code: string }) => error.code)
  const deferred = ref.ask({ type: 'deferred' }, { timeoutMs: 10_000 }).catch((error: { code: string }) => error.code)
  await advance(1)
  t.ok(zombie.ctx !== null, 'the slow handler is running')
  system.localCell(ref.address)!.onFailure(new Error('simulated crash'))
  t.equal(await slow, 'ERR_ACTOR_FAILED', 'the ask being handled fails at the crash, not at its timeout')
  await advance(10)
  // The deferred ask was queued behind the slow one: the successor handled it and deferred its
  // reply. A crash of that life must fail the deferred reply too.
  system.localCell(ref.address)!.onFailure(new Error('again'))
  t.equal(await deferred, 'ERR_ACTOR_FAILED', 'a deferred reply of a crashed life is failed for it')
  await advance(10)
  // The old life's handler wakes up: it may not answer anything, nor send, nor pipe work.
  const answer = ref.ask({ type: 'results' }, { timeoutMs: 1_000 })
  zombie.gate.resolve()
  await advance(1)
  t.throws(() => zombie.ctx!.reply('x'), { code: 'ERR_ACTOR_FENCED' })
  t.throws(() => zombie.ctx!.tell(ref, { type: 'crash' }), { code: 'ERR_ACTOR_FENCED' })
  t.throws(() => zombie.ctx!.pipeToSelf(Promise.resolve('x'), () => ({ type: 'crash' })), { code: 'ERR_ACTOR_FENCED' })
  t.same(await answer, [], 'the successor answers its own asks, with its own state')
  ops.get(1)!.resolve('too late')
  await advance(1)
  t.same(await ref.ask({ type: 'results' }), [], 'work piped by the crashed life never reaches the successor')
})

t.test('pool slots: a crash reclaims what that life held, not what waits in the mailbox; a stop reclaims everything', async (t) => {
  const { ref, pool, advance, system } = setup()
  t.equal(await ref.ask({ type: 'hold', count: 3 }), 3)
  t.same(pool.inUse(), [3])
  const queued = pool.tryAllocate(10)!
  system.localCell(ref.address)!.onFailure(new Error('simulated crash'))
  ref.tell({ type: 'take', buffer: queued } as never)
  t.same(pool.inUse(), [1], 'the crashed life\'s three slots came back; the queued one did not')
  await advance(10)
  t.equal(await ref.ask({ type: 'hold', count: 2 }), 3, 'the successor took the queued buffer and two of its own')
  t.same(pool.inUse(), [3])
  system.stop(ref)
  await advance(1)
  t.same(pool.inUse(), [0], 'stopping reclaims every slot the actor held')
})

t.test('allocate-or-wait: waits for a release on the actor\'s clock, then ERR_POOL_EXHAUSTED at its bound', async (t) => {
  const { ref, pool, advance } = setup()
  const others = Array.from({ length: 8 }, () => pool.tryAllocate(4096)!)
  const waiting = ref.ask({ type: 'wait-for-slot', timeoutMs: 50 }, { timeoutMs: 10_000 })
  await advance(20)
  others.pop()!.release()
  await advance(5)
  t.equal(await waiting, 'got one', 'a slot released by anyone ends the wait')
  const starved = ref.ask({ type: 'wait-for-slot', timeoutMs: 50 }, { timeoutMs: 10_000 })
  await advance(60)
  t.equal(await starved, 'ERR_POOL_EXHAUSTED', 'nothing released within the bound')
  t.equal(await ref.ask({ type: 'wait-for-slot', timeoutMs: -1 }), 'ERR_INVALID_OPTION', 'a bad bound is refused, naming it')
})

t.test('a message that cannot be delivered gives its buffers back: freed for an ask, returned to a telling actor', async (t) => {
  const { pool, system, advance } = setup()
  // Refused at once: the sender still holds the buffer, to retry or release.
  const ghost = system.refFor<{ type: 'x'; buffer: PooledBuffer } & Returns<null>>(system.addressOf(999))
  const mine = pool.tryAllocate(1)!
  await t.rejects(ghost.ask({ type: 'x', buffer: mine }), { code: 'ERR_UNKNOWN_ADDRESS' })
  t.same(pool.inUse(), [1], 'a synchronous refusal leaves the buffer with its sender')
  mine.release()
  // Refused after it left its sender (it arrived from another host for an actor gone meanwhile).
  const replyTo = { node: system.node, host: system.host, corr: 424242, incarnation: system.incarnation }
  system.receiveRemote(999, { type: 'x', buffer: pool.tryAllocate(1)! } as never, replyTo, null)
  t.same(pool.inUse(), [0], 'an ask that arrives for nobody: its buffer is freed, the asker gets only the error')
  type Msg = ({ type: 'returned' } & Returns<number>)
  const sender = system.spawn(defineActor<{ back: number }, Msg, void>({
    kind: 'sender',
    init: () => ({ back: 0 }),
    handle(state, _msg, ctx) { ctx.reply(state.back) },
    onSignal(state, signal) {
      if (signal.type === 'undelivered') state.back++
    },
  }), undefined)
  system.receiveRemote(999, { type: 'x', buffer: pool.tryAllocate(1)! } as never, null, sender)
  await advance(1)
  t.equal(await sender.ask({ type: 'returned' }), 1, 'a telling actor hears its message came back')
  t.same(pool.inUse(), [1], 'and holds the buffer again (its own to release)')
  system.stop(sender)
  await advance(1)
  t.same(pool.inUse(), [0], 'which its stop reclaims')
})

t.test('a crashed actor restarts only once its disk operations have settled (the next life never races them)', async (t) => {
  const { SimDisk } = await import('../../runtime/testkit/sim-disk.ts')
  const { SeededRandom } = await import('../../runtime/random.ts')
  const clock = new VirtualClock()
  const disk = new SimDisk({ name: 'n', clock, random: new SeededRandom(1), faults: { minLatencyMs: 50, maxLatencyMs: 50 } })
  const system = new ActorSystem({ clock, log: silentLogger, disk })
  const inits: number[] = []
  type Msg = { type: 'write' }
  const writer = system.spawn(defineActor<null, Msg, void>({
    kind: 'writer',
    supervision: { strategy: 'restart', maxRestarts: 5, withinMs: 60_000, backoffMinMs: 1, backoffMaxMs: 1 },
    init: (ctx) => { inits.push(ctx.clock.now()); return null },
    handle(_s, _m, ctx) {
      ctx.pipeToSelf(ctx.disk!.open('f', { create: true }).then((f) => f.write(new Uint8Array(4096), 0)), () => ({ type: 'write' }))
    },
  }), undefined)
  writer.tell({ type: 'write' })
  const step = async (ms: number) => {
    const target = clock.now() + ms
    await flushMicrotasks()
    for (let next = clock.nextAtMs(); next !== null && next <= target; next = clock.nextAtMs()) { clock.fireNext(); await flushMicrotasks() }
    clock.advanceTo(target)
  }
  await step(5)
  system.localCell(writer.address)!.onFailure(new Error('simulated crash'))
  await step(20)
  t.same(inits, [0], 'past the 1 ms backoff, the open (50 ms on this disk) is still in flight: no restart yet')
  await step(200)
  t.equal(inits.length, 2, 'restarted')
  t.ok(inits[1] >= 50, `only after the open settled (restart at ${inits[1]} ms)`)
  const size = disk.stat('f').then((stat) => stat.sizeBytes)
  await step(100)
  t.equal(await size, 0, 'and the crashed life\'s write, asked for after its crash, was refused (fenced)')
})
