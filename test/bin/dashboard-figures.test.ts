import t from 'tap'
import { nodeRates, nodeTotals, quantileMs, sumTotals } from '../../bin/dashboard/figures.ts'
import { MetricsRegistry } from '../../runtime/metrics/registry.ts'

t.test('totals, rates and quantiles from metric families', async (t) => {
  const m = new MetricsRegistry()
  const bytes = m.counter('t3fs_disk_bytes_total', { help: 'x', labels: ['op'] })
  const latency = m.histogram('t3fs_disk_op_duration_seconds', { help: 'x', labels: ['op'], buckets: [0.001, 0.01, 0.1] })
  bytes.inc({ op: 'write' }, 1000)
  for (let i = 0; i < 10; i++) latency.observe({ op: 'read' }, 0.0005)
  const before = nodeTotals(await m.families())
  bytes.inc({ op: 'write' }, 4000)
  bytes.inc({ op: 'read' }, 2000)
  for (let i = 0; i < 90; i++) latency.observe({ op: 'write' }, 0.005)
  for (let i = 0; i < 10; i++) latency.observe({ op: 'write' }, 0.05)
  const now = nodeTotals(await m.families())
  t.equal(now.diskWriteBytes, 5000)
  const rates = nodeRates(before, now, 2)
  t.equal(rates.diskWriteBytesPerS, 2000)
  t.equal(rates.diskReadBytesPerS, 1000)
  // Only the 100 observations between the snapshots count: 90 in (1, 10] ms, 10 in (10, 100] ms.
  const close = (a: number | null, b: number): boolean => a !== null && Math.abs(a - b) < 1e-9
  t.ok(close(quantileMs(before.diskLatency, now.diskLatency, 0.5), 1 + 9 * (50 / 90)), 'p50 interpolated in (1, 10] ms')
  t.ok(close(quantileMs(before.diskLatency, now.diskLatency, 0.95), 10 + 90 * 0.5), 'p95 interpolated in (10, 100] ms')
  t.equal(quantileMs(now.diskLatency, now.diskLatency, 0.5), null, 'no observations between equal snapshots')
  const restarted = nodeTotals(await new MetricsRegistry().families())
  t.equal(nodeRates(now, { ...restarted, diskWriteBytes: 300 }, 1).diskWriteBytesPerS, 300, 'a counter that went back is a restart: all of it is new')
  const both = sumTotals([now, now])
  t.equal(both.diskWriteBytes, 10_000)
  t.equal(both.diskLatency.count, 2 * now.diskLatency.count)
})
