import t from 'tap'
import fc from 'fast-check'
import { Counter, Registry } from 'prom-client'
import { MetricsRegistry } from '../../../runtime/metrics/registry.ts'
import { aggregateFamilies } from '../../../runtime/metrics/aggregate.ts'
import { parsePromText, sampleValue } from '../../../runtime/metrics/prom-text.ts'
import { seriesPerMetricMax } from '../../../runtime/metrics/metrics.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import { ActorSystem } from '../../../runtime/actor-system.ts'
import { defineActor, type Returns } from '../../../runtime/actor.ts'
import { SimDisk } from '../../../runtime/testkit/sim-disk.ts'
import { systemClock } from '../../../runtime/clock.ts'
import { SeededRandom } from '../../../runtime/random.ts'

const codeOf = (fn: () => unknown): string => {
  try {
    fn()
  } catch (error) {
    return isT3fsError(error) ? error.code : `not coded: ${String(error)}`
  }
  return 'nothing thrown'
}

t.test('counters, gauges and histograms registered by name, read back through the text format', async (t) => {
  const m = new MetricsRegistry()
  const ops = m.counter('t3fs_test_ops_total', { help: 'operations', labels: ['op'] })
  ops.inc({ op: 'read' })
  ops.inc({ op: 'read' }, 4)
  ops.inc({ op: 'write' }, 2)
  // A second registration of the same name and shape (another life of an actor) counts into the same series.
  m.counter('t3fs_test_ops_total', { help: 'operations', labels: ['op'] }).inc({ op: 'read' })
  const depth = m.gauge('t3fs_test_depth', { help: 'depth' })
  depth.set(undefined, 7)
  depth.dec(undefined, 2)
  const states = m.gauge('t3fs_test_states', { help: 'states', labels: ['state'] })
  states.set({ state: 'SERVING' }, 3)
  states.reset()
  states.set({ state: 'OFFLINE' }, 1)
  const latency = m.histogram('t3fs_test_seconds', { help: 'latency', labels: ['op'], buckets: [0.001, 0.01, 0.1] })
  for (const v of [0.0005, 0.005, 0.005, 0.05, 5]) latency.observe({ op: 'read' }, v)

  const families = parsePromText(await m.text())
  t.equal(families.get('t3fs_test_ops_total')?.type, 'counter')
  t.equal(sampleValue(families, 't3fs_test_ops_total', { op: 'read' }), 6)
  t.equal(sampleValue(families, 't3fs_test_ops_total', { op: 'write' }), 2)
  t.equal(sampleValue(families, 't3fs_test_depth'), 5)
  t.equal(sampleValue(families, 't3fs_test_states', { state: 'SERVING' }), 0, 'reset forgot SERVING')
  t.equal(sampleValue(families, 't3fs_test_states', { state: 'OFFLINE' }), 1)
  t.equal(families.get('t3fs_test_seconds')?.type, 'histogram')
  t.equal(sampleValue(families, 't3fs_test_seconds', { le: '0.01' }, 't3fs_test_seconds_bucket'), 3)
  t.equal(sampleValue(families, 't3fs_test_seconds', { le: '+Inf' }, 't3fs_test_seconds_bucket'), 5)
  t.equal(sampleValue(families, 't3fs_test_seconds', {}, 't3fs_test_seconds_count'), 5)
  t.ok(Math.abs(sampleValue(families, 't3fs_test_seconds', {}, 't3fs_test_seconds_sum') - 5.0605) < 1e-9)
})

t.test('bad names, labels, values and conflicting registrations are coded errors', async (t) => {
  const m = new MetricsRegistry()
  t.equal(codeOf(() => m.counter('ops_total', { help: 'x' })), 'ERR_INVALID_METRIC', 'the t3fs_ prefix is required')
  t.equal(codeOf(() => m.counter('t3fs_Ops', { help: 'x' })), 'ERR_INVALID_METRIC')
  t.equal(codeOf(() => m.counter('t3fs_ops', { help: '' })), 'ERR_INVALID_METRIC')
  t.equal(codeOf(() => m.counter('t3fs_ops', { help: 'x', labels: ['le'] })), 'ERR_INVALID_METRIC')
  t.equal(codeOf(() => m.counter('t3fs_ops', { help: 'x', labels: ['a', 'a'] })), 'ERR_INVALID_METRIC')
  t.equal(codeOf(() => m.histogram('t3fs_h', { help: 'x', buckets: [1, 1] })), 'ERR_INVALID_METRIC')
  const ops = m.counter('t3fs_ops_total', { help: 'x', labels: ['op'] })
  t.equal(codeOf(() => m.gauge('t3fs_ops_total', { help: 'x', labels: ['op'] })), 'ERR_METRIC_CONFLICT')
  t.equal(codeOf(() => m.counter('t3fs_ops_total', { help: 'x', labels: ['kind'] })), 'ERR_METRIC_CONFLICT')
  t.equal(codeOf(() => new ActorSystem().metrics.counter('t3fs_actors', { help: 'x' })), 'ERR_METRIC_CONFLICT', 'runtime names are taken')
  t.equal(codeOf(() => ops.inc()), 'ERR_INVALID_METRIC', 'declared labels must be given')
  t.equal(codeOf(() => ops.inc({ op: 'a', extra: 'b' })), 'ERR_INVALID_METRIC')
  t.equal(codeOf(() => ops.inc({ op: 'a' }, -1)), 'ERR_INVALID_METRIC')
  t.equal(codeOf(() => m.gauge('t3fs_g', { help: 'x' }).set(undefined, NaN)), 'ERR_INVALID_METRIC')
})

t.test('a metric holds at most seriesPerMetricMax label sets; the rest are counted as dropped', async (t) => {
  const m = new MetricsRegistry()
  const c = m.counter('t3fs_many_total', { help: 'x', labels: ['id'] })
  for (let i = 0; i < seriesPerMetricMax + 5; i++) c.inc({ id: i })
  const families = parsePromText(await m.text())
  t.equal(families.get('t3fs_many_total')?.samples.length, seriesPerMetricMax)
  t.equal(sampleValue(families, 't3fs_metrics_series_dropped_total'), 5)
})

t.test('a bound histogram series records into the same series as observe, checks once, and sums across hosts', async (t) => {
  const hosts = [new MetricsRegistry(), new MetricsRegistry()]
  for (const m of hosts) {
    const h = m.histogram('t3fs_bound_seconds', { help: 'x', labels: ['op'], buckets: [0.001, 0.01] })
    const read = h.bind({ op: 'read' })
    for (const v of [0.0005, 0.005, 0.5]) read.observe(v)
    h.observe({ op: 'read' }, 0.002)
    m.histogram('t3fs_bound_seconds', { help: 'x', labels: ['op'], buckets: [0.001, 0.01] }).bind({ op: 'read' }).observe(0.0001)
    t.equal(codeOf(() => h.bind({ kind: 'read' })), 'ERR_INVALID_METRIC', 'the declared labels are checked when binding')
    t.equal(codeOf(() => h.bind()), 'ERR_INVALID_METRIC')
    t.equal(codeOf(() => read.observe(Infinity)), 'ERR_INVALID_METRIC', 'every bound value is still checked')
  }
  const one = parsePromText(await hosts[0].text())
  t.equal(sampleValue(one, 't3fs_bound_seconds', { op: 'read', le: '0.001' }, 't3fs_bound_seconds_bucket'), 2)
  t.equal(sampleValue(one, 't3fs_bound_seconds', { op: 'read', le: '0.01' }, 't3fs_bound_seconds_bucket'), 4)
  t.equal(sampleValue(one, 't3fs_bound_seconds', { op: 'read', le: '+Inf' }, 't3fs_bound_seconds_bucket'), 5)
  t.ok(Math.abs(sampleValue(one, 't3fs_bound_seconds', { op: 'read' }, 't3fs_bound_seconds_sum') - 0.5076) < 1e-9)
  const both = parsePromText(await aggregateFamilies([await hosts[0].families(), await hosts[1].families()]).text())
  t.equal(sampleValue(both, 't3fs_bound_seconds', { op: 'read' }, 't3fs_bound_seconds_count'), 10)
  // Without labels, the zero series shows before the first observation (as prom-client's histograms do).
  const m = new MetricsRegistry()
  m.histogram('t3fs_quiet_seconds', { help: 'x', buckets: [1] })
  t.equal(parsePromText(await m.text()).get('t3fs_quiet_seconds')?.samples.length, 4, 'one bucket, +Inf, sum and count')
  // Past seriesPerMetricMax label sets, a bound series is dropped like any other observation.
  const many = m.histogram('t3fs_many_seconds', { help: 'x', labels: ['id'] })
  for (let i = 0; i < seriesPerMetricMax; i++) many.observe({ id: i }, 1)
  const late = many.bind({ id: 'late' })
  late.observe(1)
  late.observe(2)
  const families = parsePromText(await m.text())
  t.equal(sampleValue(families, 't3fs_metrics_series_dropped_total'), 2)
  t.equal(sampleValue(families, 't3fs_many_seconds', { id: 'late' }, 't3fs_many_seconds_count'), 0)
})

t.test('hosts are summed per series; max-aggregated gauges take the max', async (t) => {
  const hosts = [new MetricsRegistry(), new MetricsRegistry()]
  hosts[0].counter('t3fs_x_total', { help: 'x', labels: ['k'] }).inc({ k: 'a' }, 2)
  hosts[1].counter('t3fs_x_total', { help: 'x', labels: ['k'] }).inc({ k: 'a' }, 3)
  hosts[1].counter('t3fs_x_total', { help: 'x', labels: ['k'] }).inc({ k: 'b' }, 1)
  const families = parsePromText(await aggregateFamilies([await hosts[0].families(), await hosts[1].families()]).text())
  t.equal(sampleValue(families, 't3fs_x_total', { k: 'a' }), 5)
  t.equal(sampleValue(families, 't3fs_x_total', { k: 'b' }), 1)
})

t.test('the runtime collectors count messages per kind (stopped actors included) and disk I/O', async (t) => {
  const clock = systemClock
  const disk = new SimDisk({ name: 'm', clock, random: new SeededRandom(1) })
  const system = new ActorSystem({ clock, disk })
  type Msg = ({ type: 'ping' } & Returns<null>) | ({ type: 'write'; bytes: number } & Returns<number>)
  const worker = defineActor<null, Msg>({
    kind: 'worker',
    init: () => null,
    async handle(_s, msg, ctx) {
      if (msg.type === 'ping') return ctx.reply(null)
      const file = await ctx.disk!.open('f', { create: true })
      ctx.reply(await file.write(new Uint8Array(msg.bytes), 0))
      await file.close()
    },
  })
  const a = system.spawn(worker, undefined)
  const b = system.spawn(worker, undefined)
  await Promise.all(Array.from({ length: 5 }, () => a.ask({ type: 'ping' })))
  t.equal(await b.ask({ type: 'write', bytes: 12345 }), 12345)
  system.stop(a)
  for (let i = 0; i < 50 && system.stats().actors > 1; i++) await new Promise((r) => setImmediate(r))
  const families = parsePromText(await system.metrics.text())
  t.equal(sampleValue(families, 't3fs_actor_messages_total', { kind: 'worker' }), 6, '5 pings to the stopped actor and 1 write')
  t.equal(sampleValue(families, 't3fs_actors', { kind: 'worker' }), 1)
  t.equal(sampleValue(families, 't3fs_disk_bytes_total', { op: 'write' }), 12345)
  t.equal(sampleValue(families, 't3fs_disk_ops_total', { op: 'open' }), 1)
  t.equal(sampleValue(families, 't3fs_disk_op_duration_seconds', { op: 'write' }, 't3fs_disk_op_duration_seconds_count'), 1)
  system.shutdown()
})

t.test('the text parser reads what prom-client writes, escapes included', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.tuple(fc.string({ maxLength: 12 }), fc.integer({ min: 0, max: 1e9 })), { minLength: 1, maxLength: 8 }),
    async (entries) => {
      const registry = new Registry()
      const counter = new Counter({ name: 'x_total', help: 'a "help" \\ text\nwith a newline', labelNames: ['v'], registers: [registry] })
      const expected = new Map<string, number>()
      for (const [v, n] of entries) {
        counter.inc({ v }, n)
        expected.set(v, (expected.get(v) ?? 0) + n)
      }
      const families = parsePromText(await registry.metrics())
      const family = families.get('x_total')!
      if (family.samples.length !== expected.size) return false
      return [...expected].every(([v, n]) => sampleValue(families, 'x_total', { v }) === n)
    },
  ), { numRuns: 200 })
  t.equal(codeOf(() => parsePromText('x_total{v="a} 1')), 'ERR_PROM_TEXT')
  t.equal(codeOf(() => parsePromText('x_total one')), 'ERR_PROM_TEXT')
  t.equal(sampleValue(parsePromText('# TYPE y gauge\ny +Inf\n'), 'y'), Infinity)
})

t.test('hot-path cells read out like prom-client\'s own counters and histograms, and sum across hosts', async (t) => {
  const { CounterCells, HistogramCells } = await import('../../../runtime/metrics/cells.ts')
  const hosts = [new MetricsRegistry(), new MetricsRegistry()]
  for (const [i, m] of hosts.entries()) {
    const frames = new CounterCells(m, 't3fs_cells_total', 'x', ['peer'])
    const cell = frames.cell({ peer: 7 })
    cell.value += 10 * (i + 1)
    t.equal(frames.cell({ peer: 7 }), cell, 'one cell per label set')
    const h = new HistogramCells(m, 't3fs_cells_seconds', 'x', ['op'], [0.001, 0.01])
    for (const v of [0.0005, 0.005, 0.5]) h.cell({ op: 'read' }).observe(v)
  }
  const one = parsePromText(await hosts[0].text())
  t.equal(one.get('t3fs_cells_seconds')?.type, 'histogram')
  t.equal(sampleValue(one, 't3fs_cells_seconds', { op: 'read', le: '0.001' }, 't3fs_cells_seconds_bucket'), 1)
  t.equal(sampleValue(one, 't3fs_cells_seconds', { op: 'read', le: '0.01' }, 't3fs_cells_seconds_bucket'), 2, 'buckets are cumulative')
  t.equal(sampleValue(one, 't3fs_cells_seconds', { op: 'read', le: '+Inf' }, 't3fs_cells_seconds_bucket'), 3)
  t.equal(sampleValue(one, 't3fs_cells_seconds', { op: 'read' }, 't3fs_cells_seconds_count'), 3)
  const both = parsePromText(await aggregateFamilies([await hosts[0].families(), await hosts[1].families()]).text())
  t.equal(sampleValue(both, 't3fs_cells_total', { peer: '7' }), 30)
  t.equal(sampleValue(both, 't3fs_cells_seconds', { op: 'read', le: '0.01' }, 't3fs_cells_seconds_bucket'), 4)
  t.equal(codeOf(() => hosts[0].counter('t3fs_cells_total', { help: 'x', labels: ['peer'] })), 'ERR_METRIC_CONFLICT')
})
