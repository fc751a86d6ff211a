/**
 * A meta server counts the requests it answers through ctx.metrics: per operation and result, with
 * their latency on the actor's clock (virtual here).
 */
import t from 'tap'
import { parsePromText, sampleValue } from '../../../runtime/metrics/prom-text.ts'
import { harness, ROOT } from './harness.ts'

t.test('meta operation rates and latencies per operation and result', async (t) => {
  const h = await harness()
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(c.request({ type: 'create', path: { path: '/a' }, flags: { access: 'write' }, perm: 0o644 }))
  for (let i = 0; i < 3; i++) await run(c.request({ type: 'stat', path: { path: '/a' } }))
  await run(c.request({ type: 'stat', path: { path: '/missing' } })).catch(() => null)
  const m = parsePromText(await h.ts.system.metrics.text())
  t.equal(sampleValue(m, 't3fs_meta_ops_total', { op: 'create', result: 'ok' }), 1)
  t.equal(sampleValue(m, 't3fs_meta_ops_total', { op: 'stat', result: 'ok' }), 3)
  t.equal(sampleValue(m, 't3fs_meta_ops_total', { op: 'stat', result: 'ENOENT' }), 1, 'a refusal is counted with its errno')
  t.equal(sampleValue(m, 't3fs_meta_op_duration_seconds', { op: 'stat' }, 't3fs_meta_op_duration_seconds_count'), 4)
})
