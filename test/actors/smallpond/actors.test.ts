/** smallpond on the actor runtime: a scheduler actor on the main thread, one task actor per attempt on worker hosts. */
import t from 'tap'
import { join } from 'node:path'
import { NodeRuntime } from '../../../runtime/node-runtime.ts'
import { session, num } from './fixtures.ts'

const fns = new URL('./fixtures/user-functions.ts', import.meta.url).href

t.test('DataFrames run as task actors on worker hosts', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const dir = t.testdir()
  const hostsUsed = new Map<number, number>()
  const placement = {
    system: runtime.system,
    hostIds: runtime.hostIds,
    spawn: ((def: { module: string; export: string }, args: unknown, options: { host?: number }) => {
      hostsUsed.set(options.host ?? -1, (hostsUsed.get(options.host ?? -1) ?? 0) + 1)
      return runtime.spawn(def, args, options)
    }) as typeof runtime.spawn,
    stop: (ref: Parameters<typeof runtime.stop>[0]) => runtime.stop(ref),
  }
  const sp = await session(dir, { faultInjectProb: 0.2, randomSeed: 11 }, { runtime: placement })
  const items = sp.fromItems(Array.from({ length: 1000 }, (_, i) => i))
  const byKey = await items.repartition(10, { by: 'item % 10' }).map('min(item % 10) as min, max(item % 10) as max').takeAll()
  t.same(byKey.map((r) => [num(r.min), num(r.max)]), Array.from({ length: 10 }, (_, i) => [i, i]))
  const hashed = await items.repartition(4, { hashBy: 'item' }).count()
  t.equal(hashed, 1000)
  const ab = sp.fromRecords([{ a: 1, b: 4 }, { a: 2, b: 5 }, { a: 3, b: 6 }])
  t.same(await ab.map({ module: fns, export: 'addAB' }).takeAll(), [{ c: 5n }, { c: 7n }, { c: 9n }])
  await t.rejects(ab.map((r) => ({ c: r.a })).takeAll(), { code: 'ERR_SMALLPOND_UNSHIPPABLE_FUNCTION' })
  await t.rejects(sp.partialSql('select a,, from {0}', ab).takeAll(), { code: 'ERR_SMALLPOND_SQL', message: /select a,, from/ })
  await t.rejects(items.repartition(10, { by: 'item % 11' }).count(), { code: 'ERR_SMALLPOND_PARTITION_KEY_OUT_OF_RANGE', message: /partition key 10 is out of range 0-9/ })
  t.same([...hostsUsed.keys()].sort(), runtime.hostIds, `task actors were placed on every worker host (${[...hostsUsed.entries()].map(([h, n]) => `host ${h}: ${n}`).join(', ')})`)
  t.same((await runtime.stats()).map((h) => h.actors), [0, 0], 'task actors stop after their attempt')
  t.ok(sp.scheduler.attempts.some((a) => !a.ok && /injected fault/.test(a.error ?? '')), 'injected faults were retried')
  await items.writeParquet(join(dir, 'out'))
  t.equal(await sp.readParquet(join(dir, 'out')).count(), 1000)
  await sp.shutdown()
})

t.test('a worker host that dies: its tasks are retried on the others', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const sp = await session(t.testdir(), { maxFailCount: 3 }, { runtime })
  t.equal(await sp.fromItems(Array.from({ length: 100 }, (_, i) => i)).repartition(4, { byRows: true }).map('item').count(), 100)
  await runtime.killHost(runtime.hostIds[0])
  const rows = await sp.fromItems(Array.from({ length: 100 }, (_, i) => i)).repartition(4, { hashBy: 'item' }).map('sum(item) as s').takeAll()
  t.equal(rows.reduce((s, r) => s + num(r.s), 0), 4950)
  t.ok(sp.scheduler.attempts.some((a) => !a.ok && /died/.test(a.error ?? '')), 'attempts on the dead host failed and were retried')
  await sp.shutdown()
})

t.test("init({ executor: 'actors' }) owns a runtime and shuts it down", async (t) => {
  const sp = await session(t.testdir(), { executor: 'actors', hostsPerDomain: 1 })
  const df = sp.fromItems([3, 1, 2]).partialSql('select item * 10 as x from {0} order by x')
  t.same((await df.takeAll()).map((r) => num(r.x)), [10, 20, 30])
  await sp.shutdown()
  await t.rejects(df.count(), { code: 'ERR_SMALLPOND_SESSION_CLOSED' })
})
