import t from 'tap'
import { IdlePoll } from '../../runtime/idle-poll.ts'

t.test('a host polls while its idle spells are short, and stops once answers take longer than the poll', async (t) => {
  const poll = new IdlePoll(50)
  t.ok(poll.worthPolling, 'a fresh host polls')
  for (let i = 0; i < 20; i++) poll.noteIdle(10)
  t.ok(poll.worthPolling, 'spells of 10 µs: polling catches them')
  let spells = 0
  while (poll.worthPolling && spells < 100) {
    poll.noteIdle(250)
    spells++
  }
  t.notOk(poll.worthPolling, 'spells of 250 µs (a peer working through a batch): it sleeps at once')
  t.ok(spells <= 3, `it stopped polling after ${spells} long spells`)
})

t.test('a long quiet period is forgotten after a few short spells', async (t) => {
  const poll = new IdlePoll(50)
  for (let i = 0; i < 10; i++) poll.noteIdle(60_000_000) // minutes without work
  t.notOk(poll.worthPolling, 'after long quiet spells it sleeps at once')
  let spells = 0
  while (!poll.worthPolling && spells < 100) {
    poll.noteIdle(5)
    spells++
  }
  t.ok(poll.worthPolling, 'short spells make polling pay again')
  t.ok(spells <= 6, `after ${spells} short spells, not after the minute is averaged away`)
})

t.test('a poll of 0 µs never polls', async (t) => {
  const poll = new IdlePoll(0)
  t.notOk(poll.worthPolling)
  poll.noteIdle(0)
  t.notOk(poll.worthPolling)
})
