import t from 'tap'
import { CpuPool } from '../../runtime/cpu-pool.ts'

const jobs = new URL('./fixtures/cpu-jobs.ts', import.meta.url).href

t.test('runs module functions in pool threads and reports their failures with a code', async (t) => {
  const pool = new CpuPool({ maxThreads: 2 })
  t.teardown(() => pool.close())
  const results = await Promise.all([10, 100, 1000].map((upTo) => pool.run<{ upTo: number }, number>({ module: jobs, export: 'sumSquares' }, { upTo })))
  t.same(results, [385, 338350, 333833500])
  await t.rejects(pool.run({ module: jobs, export: 'fail' }, {}), { message: /job failed on purpose/ })
  await t.rejects(pool.run({ module: jobs, export: 'missing' }, {}), { code: 'ERR_DEFINITION_NOT_FOUND' })
})

t.test('a full queue is refused with ERR_POOL_FULL', async (t) => {
  const pool = new CpuPool({ maxThreads: 1, maxQueue: 1 })
  t.teardown(() => pool.close())
  const running = [pool.run({ module: jobs, export: 'sumSquares' }, { upTo: 3e7 }), pool.run({ module: jobs, export: 'sumSquares' }, { upTo: 10 })]
  await t.rejects(pool.run({ module: jobs, export: 'sumSquares' }, { upTo: 10 }), { code: 'ERR_POOL_FULL' })
  await Promise.all(running)
})

t.test('options are validated', async (t) => {
  t.throws(() => new CpuPool({ maxThreads: 0 }), { code: 'ERR_INVALID_OPTION', message: /maxThreads is 0/ })
  t.throws(() => new CpuPool({ maxThreads: 2, minThreads: 3 }), { code: 'ERR_INVALID_OPTION' })
})
