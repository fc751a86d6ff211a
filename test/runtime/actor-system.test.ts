import t from 'tap'
import { ActorSystem } from '../../runtime/actor-system.ts'
import { defineActor, type Returns, type Signal } from '../../runtime/actor.ts'
import { isT3fsError } from '../../runtime/errors.ts'
import { silentLogger } from '../../runtime/logger.ts'

type CounterMsg =
  | { type: 'add'; amount: number }
  | ({ type: 'get' } & Returns<number>)
  | { type: 'crash' }
  | ({ type: 'slow'; ms: number } & Returns<string>)

const counter = defineActor<number, CounterMsg, number>({
  kind: 'counter',
  mailboxMax: 4,
  validate: (m) => ((m as { type: string }).type === 'add' && typeof (m as { amount?: unknown }).amount !== 'number' ? 'amount must be a number' : null),
  init: (_ctx, start) => start,
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'add':
        return state + msg.amount
      case 'get':
        ctx.reply(state)
        return
      case 'crash':
        throw new Error('boom')
      case 'slow':
        return new Promise<number>((resolve) => ctx.clock.setTimer(msg.ms, () => { ctx.reply('done'); resolve(state) }))
    }
  },
})

const system = () => ActorSystem.create({ log: silentLogger })

t.test('tell and ask on one host, in order', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 10)
  ref.tell({ type: 'add', amount: 5 })
  ref.tell({ type: 'add', amount: 2 })
  t.equal(await ref.ask({ type: 'get' }), 17)
  s.shutdown()
})

t.test('a full mailbox is reported to the sender and send() waits for room', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 0)
  for (let i = 0; i < 4; i++) ref.tell({ type: 'add', amount: 1 })
  t.throws(() => ref.tell({ type: 'add', amount: 1 }), { code: 'ERR_MAILBOX_FULL' })
  await ref.send({ type: 'add', amount: 1 })
  t.equal(await ref.ask({ type: 'get' }), 5)
  s.shutdown()
})

t.test('a message that fails validation is refused with ERR_INVALID_MESSAGE', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 0)
  t.throws(() => ref.tell({ type: 'add', amount: 'x' } as never), { code: 'ERR_INVALID_MESSAGE', message: /amount must be a number/ })
  t.throws(() => ref.tell({ nope: 1 } as never), { code: 'ERR_INVALID_MESSAGE' })
  s.shutdown()
})

t.test('an unknown address is ERR_UNKNOWN_ADDRESS', async (t) => {
  const s = system()
  const ghost = s.refFor({ node: 0, host: 0, id: 999, incarnation: s.incarnation })
  t.throws(() => ghost.tell({ type: 'x' }), { code: 'ERR_UNKNOWN_ADDRESS' })
  await t.rejects(ghost.ask({ type: 'x' }), { code: 'ERR_UNKNOWN_ADDRESS' })
  s.shutdown()
})

t.test('an address of an earlier incarnation of this node is refused, never delivered to the actor that has its id now', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 0)
  const stale = s.refFor<CounterMsg>({ ...ref.address, incarnation: s.incarnation + 1 })
  t.throws(() => stale.tell({ type: 'add', amount: 5 }), { code: 'ERR_STALE_INCARNATION', message: /restarted/ })
  await t.rejects(stale.ask({ type: 'get' }), { code: 'ERR_STALE_INCARNATION' })
  t.equal(await ref.ask({ type: 'get' }), 0, 'the actor with that id got nothing')
  t.notOk(stale.equals(ref), 'refs of different incarnations differ')
  t.throws(() => new ActorSystem({ incarnation: 0, log: silentLogger }), { code: 'ERR_INVALID_OPTION' })
  s.shutdown()
})

t.test('an ask that gets no reply in time is ERR_ASK_TIMEOUT', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 0)
  await t.rejects(ref.ask({ type: 'slow', ms: 200 }, { timeoutMs: 20 }), { code: 'ERR_ASK_TIMEOUT' })
  t.throws(() => ref.ask({ type: 'get' }, { timeoutMs: -1 }), { code: 'ERR_INVALID_OPTION' })
  s.shutdown()
})

t.test('a crash restarts the actor from init, keeping later mail; the asker gets ERR_ACTOR_FAILED', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 1, { supervision: { strategy: 'restart', backoffMinMs: 1, backoffMaxMs: 2 } })
  ref.tell({ type: 'add', amount: 41 })
  await t.rejects(ref.ask({ type: 'crash' }), { code: 'ERR_ACTOR_FAILED' })
  ref.tell({ type: 'add', amount: 1 })
  t.equal(await ref.ask({ type: 'get' }), 2, 'state restarted from init(1), then +1')
  s.shutdown()
})

t.test('stop policy and death watch: the watcher is told, with the reason', async (t) => {
  const s = system()
  const seen: Signal[] = []
  const watcher = defineActor<null, { type: 'watch'; ref: import('../../runtime/actor.ts').ActorRef }>({
    kind: 'watcher',
    init: () => null,
    handle: (_s, msg, ctx) => ctx.watch(msg.ref),
    onSignal: (_s, signal) => { seen.push(signal) },
  })
  const victim = s.spawn(counter, 0, { supervision: { strategy: 'stop' } })
  const w = s.spawn(watcher, undefined)
  await w.ask({ type: 'watch', ref: victim })
  await t.rejects(victim.ask({ type: 'crash' }), { code: 'ERR_ACTOR_FAILED' })
  await new Promise((r) => setTimeout(r, 10))
  t.equal(seen.length, 1)
  t.equal(seen[0].type, 'terminated')
  t.equal(seen[0].type === 'terminated' && seen[0].reason.kind, 'failed')
  t.throws(() => victim.tell({ type: 'add', amount: 1 }), { code: 'ERR_UNKNOWN_ADDRESS' })
  s.shutdown()
})

t.test('restart gives up after maxRestarts and stops', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 0, { supervision: { strategy: 'restart', maxRestarts: 2, backoffMinMs: 0, backoffMaxMs: 1 } })
  for (let i = 0; i < 3; i++) {
    await t.rejects(ref.ask({ type: 'crash' }), { code: 'ERR_ACTOR_FAILED' })
    await new Promise((r) => setTimeout(r, 5))
  }
  t.throws(() => ref.tell({ type: 'add', amount: 1 }), { code: 'ERR_UNKNOWN_ADDRESS' })
  s.shutdown()
})

t.test('escalate fails the parent, which restarts and loses its children', async (t) => {
  const s = system()
  type ParentMsg = ({ type: 'child' } & Returns<import('../../runtime/actor.ts').ActorRef<CounterMsg>>) | ({ type: 'generation' } & Returns<number>)
  let generations = 0
  const parent = defineActor<{ generation: number }, ParentMsg>({
    kind: 'parent',
    supervision: { strategy: 'restart', backoffMinMs: 0, backoffMaxMs: 1 },
    init: () => ({ generation: ++generations }),
    handle(state, msg, ctx) {
      if (msg.type === 'child') ctx.reply(ctx.spawn(counter, 0, { supervision: { strategy: 'escalate' } }))
      else ctx.reply(state.generation)
    },
  })
  const p = s.spawn(parent, undefined)
  const child = await p.ask({ type: 'child' })
  await t.rejects(child.ask({ type: 'crash' }), { code: 'ERR_ACTOR_FAILED' })
  await new Promise((r) => setTimeout(r, 10))
  t.equal(await p.ask({ type: 'generation' }), 2, 'parent restarted')
  t.throws(() => child.tell({ type: 'add', amount: 1 }), { code: 'ERR_UNKNOWN_ADDRESS' }, 'child stopped with the restart')
  s.shutdown()
})

t.test('operating errors reach the asker without crashing the actor', async (t) => {
  const s = system()
  const { T3fsError } = await import('../../runtime/errors.ts')
  let inits = 0
  const picky = defineActor<null, { type: 'bad' } | ({ type: 'ok' } & Returns<string>)>({
    kind: 'picky',
    init: () => { inits++; return null },
    handle(_s, msg, ctx) {
      if (msg.type === 'bad') throw new T3fsError('ERR_BAD_INPUT', 'no')
      ctx.reply('fine')
    },
  })
  const ref = s.spawn(picky, undefined)
  const error = await ref.ask({ type: 'bad' }).catch((e: unknown) => e)
  t.ok(isT3fsError(error, 'ERR_BAD_INPUT'))
  t.equal(await ref.ask({ type: 'ok' }), 'fine')
  t.equal(inits, 1)
  s.shutdown()
})

t.test('shutdown fails pending asks and refuses new work', async (t) => {
  const s = system()
  const ref = s.spawn(counter, 0)
  const pending = ref.ask({ type: 'slow', ms: 1000 })
  s.shutdown()
  await t.rejects(pending, { code: /ERR_SYSTEM_STOPPED|ERR_ACTOR_STOPPED/ })
  t.throws(() => s.spawn(counter, 0), { code: 'ERR_SYSTEM_STOPPED' })
})
