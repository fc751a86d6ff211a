import t from 'tap'
import { createServer } from 'node:net'
import { serveMetrics } from '../../../runtime/metrics/metrics-server.ts'
import { isT3fsError } from '../../../runtime/errors.ts'

t.test('scrapes that arrive together share one gathering; a taken port is ERR_LISTEN naming the key', async (t) => {
  let gathers = 0
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => { release = resolve })
  const listener = await serveMetrics({ host: '127.0.0.1', port: 0, gather: async () => { gathers++; await gate; return 't3fs_x 1\n' } })
  t.teardown(() => listener.close())
  const scrapes = Array.from({ length: 5 }, () => fetch(`http://127.0.0.1:${listener.port}/metrics`).then((r) => r.text()))
  await new Promise((r) => setTimeout(r, 100))
  release()
  t.same(await Promise.all(scrapes), Array(5).fill('t3fs_x 1\n'))
  t.equal(gathers, 1, 'five scrapes, one gathering')
  t.equal(await (await fetch(`http://127.0.0.1:${listener.port}/metrics`)).text(), 't3fs_x 1\n')
  t.equal(gathers, 2, 'a later scrape gathers afresh')

  const taken = createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => taken.close())
  const port = (taken.address() as { port: number }).port
  const error = await serveMetrics({ host: '127.0.0.1', port, gather: async () => '' }).then(() => null, (e: unknown) => e)
  t.ok(isT3fsError(error, 'ERR_LISTEN'), 'ERR_LISTEN')
  t.match((error as Error).message, new RegExp(`metrics.listen 127.0.0.1:${port} cannot be listened on \\(EADDRINUSE\\)`))
})

t.test('a gathering that fails answers 500 with the reason', async (t) => {
  const listener = await serveMetrics({ host: '127.0.0.1', port: 0, gather: async () => { throw new Error('host 2 died') } })
  t.teardown(() => listener.close())
  const response = await fetch(`http://127.0.0.1:${listener.port}/metrics`)
  t.equal(response.status, 500)
  t.match(await response.text(), /host 2 died/)
})
