/**
 * SimDisk against the Disk conformance suite: once settling at once (no latency), once with seeded
 * latencies on a virtual clock that a driver steps (operations then complete out of order), and
 * once with 512-byte alignment.
 */
import t, { type Test } from 'tap'
import { SeededRandom } from '../../../runtime/random.ts'
import { SimDisk } from '../../../runtime/testkit/sim-disk.ts'
import { VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'
import { diskConformance } from './disk-conformance.ts'

/** A virtual clock that fires its next timer on every turn of the event loop until the test ends. */
function drivenClock(t: Test): VirtualClock {
  const clock = new VirtualClock()
  let running = true
  const tick = (): void => {
    if (!running) return
    clock.fireNext()
    setImmediate(tick)
  }
  setImmediate(tick)
  t.teardown(() => { running = false })
  return clock
}

let seed = 1
t.test('SimDisk, no latency', async (t) => {
  diskConformance(t, () => new SimDisk({ name: 'conformance', clock: new VirtualClock(), random: new SeededRandom(seed++), capacityBytes: 64 * 1024 * 1024 }))
})

t.test('SimDisk, latency from 0 to 5 ms on a driven virtual clock', async (t) => {
  diskConformance(t, (t) => new SimDisk({
    name: 'conformance-latency', clock: drivenClock(t), random: new SeededRandom(seed++), capacityBytes: 64 * 1024 * 1024,
    faults: { minLatencyMs: 0, maxLatencyMs: 5 },
  }))
})

t.test('SimDisk, 512-byte alignment', async (t) => {
  diskConformance(t, () => new SimDisk({ name: 'conformance-512', clock: new VirtualClock(), random: new SeededRandom(seed++), alignment: 512, capacityBytes: 64 * 1024 * 1024 }))
})
