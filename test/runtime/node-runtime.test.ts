import t from 'tap'
import { NodeRuntime } from '../../runtime/node-runtime.ts'
import type { EchoMsg, SlowMsg, WatcherMsg } from './fixtures/mesh-actors.ts'

const fixtures = new URL('./fixtures/mesh-actors.ts', import.meta.url).href
const def = (name: string) => ({ module: fixtures, export: name })

t.test('actors on different hosts talk through the same refs', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const a = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 1 })
  const b = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 2 })
  t.same(await a.ask({ type: 'where' }), { node: 1, host: 1 })
  t.same(await b.ask({ type: 'where' }), { node: 1, host: 2 })
  t.same(await a.ask({ type: 'echo', value: { nested: [1, 'two', null] } }), { nested: [1, 'two', null] })
  t.equal(await a.ask({ type: 'relay', to: b, value: 'via host 2' }), 'via host 2', 'a ref travels inside a message and works there')
  for (let i = 1; i <= 1000; i++) a.tell({ type: 'count', n: i })
  t.equal(await a.ask({ type: 'total' }), 500500, 'every tell arrived, in order before the ask')
  const bytes = new Uint8Array([1, 2, 3, 250])
  t.equal(await b.ask({ type: 'bytes', data: bytes }), 256, 'binary payloads cross hosts')
})

t.test('remote errors keep their codes', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0] }] })
  t.teardown(() => runtime.shutdown())
  const a = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 1 })
  await t.rejects(a.ask({ type: 'count', n: 1.5 } as never), { code: 'ERR_INVALID_MESSAGE' })
  const ghost = runtime.system.refFor<EchoMsg>({ node: 1, host: 1, id: 9999 })
  await t.rejects(ghost.ask({ type: 'total' }), { code: 'ERR_UNKNOWN_ADDRESS' })
  await t.rejects(a.ask({ type: 'hang' }, { timeoutMs: 50 }), { code: 'ERR_ASK_TIMEOUT' })
  await t.rejects(runtime.spawn(def('no-such-export'), undefined, { host: 1 }), { code: 'ERR_DEFINITION_NOT_FOUND' })
  t.throws(() => runtime.system.refFor({ node: 1, host: 7, id: 1 }).tell({ type: 'x' }), { code: 'ERR_UNKNOWN_ADDRESS' })
})

t.test('backpressure across hosts: a slow actor with a tiny mailbox loses nothing', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0] }], ringBytes: 4096 })
  t.teardown(() => runtime.shutdown())
  const sink = await runtime.spawn<SlowMsg>(def('slowSink'), undefined, { host: 1 })
  // 60k messages of ~120 bytes overflow the 4 KiB ring and the link's 4 MiB backlog.
  const total = 60_000
  const note = 'x'.repeat(100)
  let refused = 0
  const otherErrors: unknown[] = []
  for (let seq = 0; seq < total; seq++) {
    try {
      sink.tell({ type: 'item', seq, note })
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_MAILBOX_FULL') otherErrors.push(error)
      refused++
      await sink.send({ type: 'item', seq, note })
    }
  }
  t.same(otherErrors, [], 'a refusal is always ERR_MAILBOX_FULL')
  t.ok(refused > 0, `the link pushed back (${refused} tells refused, then sent with send())`)
  t.same(await sink.ask({ type: 'seen' }, { timeoutMs: 30_000 }), { count: total, inOrder: true })
})

t.test('a host that dies: asks fail fast, tells are refused, watchers are told', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const victim = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 1 })
  const watcher = await runtime.spawn<WatcherMsg>(def('watcher'), undefined, { host: 2 })
  await watcher.ask({ type: 'watch', ref: victim })
  const pending = victim.ask({ type: 'hang' }, { timeoutMs: 20_000 })
  const started = Date.now()
  await runtime.killHost(1)
  await t.rejects(pending, { code: 'ERR_HOST_DIED' })
  t.ok(Date.now() - started < 5_000, 'the pending ask failed fast, not at its timeout')
  t.throws(() => victim.tell({ type: 'count', n: 1 }), { code: 'ERR_HOST_DIED' })
  let signals: string[] = []
  for (let i = 0; i < 100 && signals.length === 0; i++) {
    signals = await watcher.ask({ type: 'signals' })
    if (signals.length === 0) await new Promise((r) => setTimeout(r, 10))
  }
  t.same(signals, ['terminated:host-died'])
  await t.rejects(runtime.spawn(def('echo'), undefined, { host: 1 }), { code: 'ERR_HOST_DIED' })
})

t.test('stats report mailboxes, handled counts and the CPU set of each host', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const a = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 1, name: 'a' })
  await a.ask({ type: 'total' })
  const [stats] = await runtime.stats()
  t.equal(stats.host, 1)
  t.equal(stats.actors, 1)
  t.equal(stats.messagesHandled, 1)
  t.same(stats.pin.cpus, [0, 1])
  t.comment(`pinning: ${stats.pin.pinned ? `pinned thread ${stats.pin.threadId}` : stats.pin.reason}`)
})
