import t from 'tap'
import { PENDING_RING_SLOTS, PendingAsks } from '../../runtime/pending-asks.ts'

interface Ask { readonly corr: number; readonly what: string }

t.test('each ask is taken once by its id; a late take finds nothing', async (t) => {
  const asks = new PendingAsks<Ask>()
  for (let corr = 1; corr <= 10; corr++) asks.add({ corr, what: `ask ${corr}` })
  t.equal(asks.size, 10)
  t.equal(asks.take(4)?.what, 'ask 4')
  t.equal(asks.take(4), undefined, 'a second reply to the same ask settles nothing')
  t.equal(asks.take(11), undefined, 'an id never asked')
  t.equal(asks.size, 9)
})

t.test('an ask still waiting after a whole ring of younger asks came and went is kept and found', async (t) => {
  const asks = new PendingAsks<Ask>()
  asks.add({ corr: 1, what: 'slow' })
  let missed = 0
  for (let corr = 2; corr < 2 + 3 * PENDING_RING_SLOTS; corr++) {
    asks.add({ corr, what: 'quick' })
    if (corr % 7 !== 0 && asks.take(corr)?.corr !== corr) missed++
  }
  t.equal(missed, 0, 'every quick ask was taken by its id')
  t.equal(asks.take(1)?.what, 'slow', 'the slow one, displaced from its slot, is still there')
  const left = asks.takeWhere(() => true)
  t.ok(left.every((a, i) => a.corr % 7 === 0 && (i === 0 || a.corr > left[i - 1].corr)), 'every ask left unsettled is there once, oldest first')
  t.equal(left.length, Math.floor((1 + 3 * PENDING_RING_SLOTS) / 7))
  t.equal(asks.size, 0)
})

t.test('takeWhere removes exactly the asks it selects, oldest first', async (t) => {
  const asks = new PendingAsks<Ask>()
  for (let corr = 1; corr <= 6; corr++) asks.add({ corr, what: corr % 2 === 0 ? 'host 2' : 'host 1' })
  t.same(asks.takeWhere((a) => a.what === 'host 2').map((a) => a.corr), [2, 4, 6])
  t.equal(asks.size, 3)
  t.same([asks.take(1)?.corr, asks.take(2)?.corr], [1, undefined])
})
