import t from 'tap'
import { IdlePoll, probeEvery } from '../../runtime/idle-poll.ts'

/** How many of the next `n` idle spells poll. */
const polls = (poll: IdlePoll, n: number) => Array.from({ length: n }, () => poll.shouldPoll()).filter(Boolean).length

t.test('a host polls while its idle spells are short, and stops once answers take longer than the poll', async (t) => {
  const poll = new IdlePoll(50)
  t.ok(poll.shouldPoll(), 'a fresh host polls')
  for (let i = 0; i < 20; i++) poll.noteIdle(10)
  t.equal(polls(poll, 40), 40, 'spells of 10 µs: polling catches them, every time')
  for (let i = 0; i < 3; i++) poll.noteIdle(250)
  t.equal(polls(poll, 4 * probeEvery), 4, `spells of 250 µs (a peer working through a batch): it sleeps at once, but for one probe in ${probeEvery}`)
})

t.test('while it sleeps, probes that catch their answers quickly bring polling back', async (t) => {
  const poll = new IdlePoll(50)
  // Answers come in ~20 µs, but a spell spent asleep measures 60 µs (the wake-up counts).
  for (let i = 0; i < 10; i++) poll.noteIdle(60)
  let idles = 0
  let polledTwiceInARow = false
  for (let last = false; idles < 10 * probeEvery && !polledTwiceInARow; idles++) {
    const polled = poll.shouldPoll()
    poll.noteIdle(polled ? 20 : 60)
    polledTwiceInARow = polled && last
    last = polled
  }
  t.ok(polledTwiceInARow, `polling again after ${idles} idle spells`)
  t.ok(idles <= 3 * probeEvery, 'within a few probes')
  for (let i = 0; i < 20; i++) poll.noteIdle(20)
  t.equal(polls(poll, 20), 20, 'and it stays: spells while polling are the short ones')
})

t.test('a long quiet period is forgotten after a few short spells', async (t) => {
  const poll = new IdlePoll(50)
  for (let i = 0; i < 10; i++) poll.noteIdle(60_000_000) // minutes without work
  t.ok(polls(poll, probeEvery) <= 1, 'after long quiet spells it sleeps at once (a probe at most)')
  let spells = 0
  while (polls(poll, 2) < 2 && spells < 100) {
    poll.noteIdle(5)
    spells++
  }
  t.ok(spells <= 6, `short spells make polling pay again after ${spells}`)
})

t.test('a poll of 0 µs never polls', async (t) => {
  const poll = new IdlePoll(0)
  poll.noteIdle(0)
  t.equal(polls(poll, 3 * probeEvery), 0)
})
