import t from 'tap'
import { sleep, systemClock } from '../../runtime/clock.ts'
import { flushMicrotasks, VirtualClock } from '../../runtime/testkit/virtual-clock.ts'

t.test('sleep resolves on the given clock\'s timer: a virtual clock drives it', async (t) => {
  const clock = new VirtualClock(1_000)
  const woke: number[] = []
  void sleep(clock, 50).then(() => woke.push(clock.now()))
  void sleep(clock, 20).then(() => woke.push(clock.now()))
  await flushMicrotasks()
  t.same(woke, [], 'nothing wakes before virtual time moves')
  t.equal(clock.pendingTimers, 2)
  clock.fireNext()
  await flushMicrotasks()
  t.same(woke, [1_020], 'the shorter sleep wakes first, at its virtual time')
  clock.fireNext()
  await flushMicrotasks()
  t.same(woke, [1_020, 1_050])
})

t.test('sleep on the system clock waits for real time', async (t) => {
  const before = systemClock.now()
  await sleep(systemClock, 5)
  t.ok(systemClock.now() >= before, 'the system clock does not go backwards across a sleep')
  t.ok(Math.abs(systemClock.now() - Date.now()) < 1_000, 'the system clock reads epoch milliseconds')
})
