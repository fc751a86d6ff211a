import t from 'tap'
import fc from 'fast-check'
import { allocateRing, Doorbell, RingConsumer, RingProducer } from '../../runtime/spsc-ring.ts'

t.test('records of any size come out whole and in order across wrap-arounds', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 1500 }), { minLength: 1, maxLength: 200 }), (lengths) => {
      const memory = allocateRing(4096)
      const producer = new RingProducer(memory)
      const consumer = new RingConsumer(memory)
      const length = new Uint32Array(1)
      let next = 0
      for (const [index, size] of lengths.entries()) {
        let at = producer.reserve(size)
        if (at < 0) {
          producer.publish()
          // Drain everything to make room, checking what comes out.
          for (let got = consumer.next(length); got >= 0; got = consumer.next(length)) {
            if (length[0] !== lengths[next] || (length[0] > 0 && consumer.bytes[got] !== (next & 0xff))) return false
            next++
          }
          consumer.release()
          at = producer.reserve(size)
          if (at < 0) return false
        }
        producer.bytes.fill(index & 0xff, at, at + size)
        producer.commit(size)
      }
      producer.publish()
      for (let got = consumer.next(length); got >= 0; got = consumer.next(length)) {
        if (length[0] !== lengths[next] || (length[0] > 0 && consumer.bytes[got] !== (next & 0xff))) return false
        next++
      }
      return next === lengths.length
    }),
    { numRuns: 300, seed: Number(process.env.T3FS_FC_SEED ?? 20261124) },
  )
  t.pass('300 random sequences of records passed')
})

t.test('an unpublished record is invisible and a full ring refuses', async (t) => {
  const memory = allocateRing(4096)
  const producer = new RingProducer(memory)
  const consumer = new RingConsumer(memory)
  const at = producer.reserve(100)
  producer.commit(100)
  t.equal(consumer.next(new Uint32Array(1)), -1, 'not published yet')
  t.ok(at >= 0)
  let refused = false
  for (let i = 0; i < 100 && !refused; i++) {
    if (producer.reserve(1000) < 0) refused = true
    else producer.commit(1000)
  }
  t.ok(refused, 'the producer is refused once the ring is full')
})

t.test('a doorbell wakes a sleeping consumer once, whoever rings', async (t) => {
  const memory = Doorbell.allocate()
  const consumer = new Doorbell(memory)
  const producers = [new Doorbell(memory), new Doorbell(memory)]
  t.notOk(producers[0].ring(), 'an awake consumer costs no wake-up')
  const seq = consumer.prepareSleep()
  const woken = consumer.sleep(seq)
  t.ok(producers[0].ring(), 'the first ring wakes the sleeper')
  t.notOk(producers[1].ring(), 'the second ring of one sleep wakes nobody (no second syscall)')
  await woken
  t.pass('the sleeping consumer woke')
  consumer.awake()
  const again = consumer.prepareSleep()
  t.ok(producers[1].ring(), 'the next sleep is woken again')
  t.equal(await consumer.sleep(again).then(() => 'woken'), 'woken', 'a ring between announcing and waiting is not lost')
})
