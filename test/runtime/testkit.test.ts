import t from 'tap'
import { defineActor, type ActorRef, type Message } from '../../runtime/actor.ts'
import { TestSystem } from '../../runtime/testkit/test-system.ts'
import { VirtualClock } from '../../runtime/testkit/virtual-clock.ts'
import { Simulation } from '../../runtime/testkit/simulation.ts'
import { SeededRandom } from '../../runtime/random.ts'

type TickerMsg = { type: 'start'; to: ActorRef<Message>; everyMs: number; times: number } | { type: 'tick' }

const ticker = defineActor<{ to: ActorRef<Message> | null; left: number; everyMs: number }, TickerMsg, void>({
  kind: 'ticker',
  init: () => ({ to: null, left: 0, everyMs: 0 }),
  handle(state, msg, ctx) {
    if (msg.type === 'start') {
      ctx.schedule(msg.everyMs, { type: 'tick' })
      return { to: msg.to, left: msg.times, everyMs: msg.everyMs }
    }
    ctx.tell(state.to!, { type: 'tock', at: ctx.clock.now() } as Message)
    if (state.left > 1) ctx.schedule(state.everyMs, { type: 'tick' })
    return { ...state, left: state.left - 1 }
  },
})

t.test('virtual clock fires timers in time order, ties in creation order, and cancels', async (t) => {
  const clock = new VirtualClock()
  const fired: string[] = []
  clock.setTimer(20, () => fired.push('b'))
  clock.setTimer(10, () => fired.push('a'))
  clock.setTimer(20, () => fired.push('c'))
  clock.setTimer(15, () => fired.push('x')).cancel()
  while (clock.fireNext());
  t.same(fired, ['a', 'b', 'c'])
  t.equal(clock.now(), 20)
})

t.test('seeded random replays and differs across seeds', async (t) => {
  const draw = (seed: number) => Array.from({ length: 5 }, ((r) => () => r.int(1000))(new SeededRandom(seed)))
  t.same(draw(7), draw(7))
  t.notSame(draw(7), draw(8))
})

t.test('probes: expectMessage waits in virtual time, expectNoMessage passes time quietly', async (t) => {
  const ts = new TestSystem()
  const probe = ts.createProbe()
  const ref = ts.spawn(ticker, undefined)
  ref.tell({ type: 'start', to: probe.ref, everyMs: 1000, times: 2 })
  t.same(await probe.expectMessage({ type: 'tock', at: 1000 } as never), { type: 'tock', at: 1000 })
  await t.rejects(probe.expectMessage(undefined, 500), { code: 'ERR_PROBE_TIMEOUT' }, 'nothing within 500 ms')
  t.same(await probe.expectMessage((m) => (m as { at?: number }).at === 2000), { type: 'tock', at: 2000 })
  await probe.expectNoMessage(10_000)
  t.equal(ts.clock.now(), 12_000, 'only virtual time passed')
  ts.shutdown()
})

t.test('expectNoMessage fails when a message arrives', async (t) => {
  const ts = new TestSystem()
  const probe = ts.createProbe()
  ts.spawn(ticker, undefined).tell({ type: 'start', to: probe.ref, everyMs: 5, times: 1 })
  await t.rejects(probe.expectNoMessage(100), { code: 'ERR_PROBE_UNEXPECTED' })
  ts.shutdown()
})

t.test('the simulator rejects a bad fault plan with the accepted range', async (t) => {
  t.throws(() => new Simulation(1, { dropRate: 1.5 }), { code: 'ERR_INVALID_OPTION', message: /dropRate is 1.5; accepted: a probability in \[0, 1\)/ })
  t.throws(() => new Simulation(1, { minDelayMs: 5, maxDelayMs: 1 }), { code: 'ERR_INVALID_OPTION' })
})

t.test('the simulator drops and duplicates by the seed, and asks time out on virtual time', async (t) => {
  const sim = new Simulation(3, { dropRate: 0.5, duplicateRate: 0.5 })
  const counter = defineActor<number, { type: 'inc' }, void>({ kind: 'count', init: () => 0, handle: (n) => n + 1 })
  const target = sim.addNode('a').system.spawn(counter, undefined)
  const sender = sim.addNode('b').system
  const remote = sender.refFor<{ type: 'inc' }>(target.address)
  // One tell per millisecond: each goes out in a frame of its own (tells of one turn share a frame).
  for (let i = 0; i < 200; i++) sim.at(i, () => remote.tell({ type: 'inc' }))
  await sim.run()
  const { dropped, duplicated, frames } = sim.networkCounters
  t.equal(frames, 200)
  t.ok(dropped > 50 && duplicated > 20, `dropped ${dropped}, duplicated ${duplicated}`)
  const lost = sim.addNode('c').system.refFor<{ type: 'inc' }>({ node: 1, host: 0, id: 999, incarnation: 1 })
  const outcome = lost.ask({ type: 'inc' }, { timeoutMs: 50 }).catch((e: { code: string }) => e.code)
  await sim.run()
  t.match(await outcome, /ERR_UNKNOWN_ADDRESS|ERR_ASK_TIMEOUT/)
})
