/** smallpond task actors count their attempts through ctx.metrics; the node's /metrics sums the hosts. */
import t from 'tap'
import { NodeRuntime } from '../../../runtime/node-runtime.ts'
import { parsePromText, sampleValue } from '../../../runtime/metrics/prom-text.ts'
import { session, num } from './fixtures.ts'

t.test('task attempts started, succeeded and failed show in the node\'s metrics', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const sp = await session(t.testdir(), { maxFailCount: 3 }, { runtime })
  const rows = await sp.fromItems(Array.from({ length: 100 }, (_, i) => i)).repartition(4, { hashBy: 'item' }).map('sum(item) as s').takeAll()
  t.equal(rows.reduce((s, r) => s + num(r.s), 0), 4950)
  await t.rejects(sp.fromItems([1, 2]).partialSql('select nope from {0}').takeAll(), { code: 'ERR_SMALLPOND_SQL' })
  const attempts = sp.scheduler.attempts
  const m = parsePromText(await runtime.metricsText())
  t.equal(sampleValue(m, 't3fs_smallpond_tasks_total', { state: 'started' }), attempts.length, `${attempts.length} attempts started`)
  t.equal(sampleValue(m, 't3fs_smallpond_tasks_total', { state: 'succeeded' }), attempts.filter((a) => a.ok).length)
  t.equal(sampleValue(m, 't3fs_smallpond_tasks_total', { state: 'failed' }), attempts.filter((a) => !a.ok).length)
  t.ok(sampleValue(m, 't3fs_smallpond_tasks_total', { state: 'failed' }) >= 1, 'the bad SQL failed at least once')
  t.equal(sampleValue(m, 't3fs_smallpond_tasks_running'), 0)
  t.equal(sampleValue(m, 't3fs_smallpond_task_duration_seconds', {}, 't3fs_smallpond_task_duration_seconds_count'), attempts.length)
  await sp.shutdown()
})
