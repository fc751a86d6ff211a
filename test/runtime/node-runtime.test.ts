import t from 'tap'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeRuntime } from '../../runtime/node-runtime.ts'
import type { EchoMsg, HoarderMsg, PoolMsg, SlowMsg, WatcherMsg } from './fixtures/mesh-actors.ts'

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

t.test('host 0 (the main thread) runs an actor named by module, beside the worker hosts', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0] }] })
  t.teardown(() => runtime.shutdown())
  const main = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 0, name: 'on-main' })
  const worker = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 1 })
  t.same(await main.ask({ type: 'where' }), { node: 1, host: 0 })
  t.equal(await main.ask({ type: 'relay', to: worker, value: 'from host 0' }), 'from host 0', 'it reaches a worker host through the same refs')
  t.equal(runtime.lookup('on-main')?.address.host, 0, 'its name is served like any other')
  await t.rejects(runtime.spawn(def('no-such-export'), undefined, { host: 0 }), { code: 'ERR_DEFINITION_NOT_FOUND' })
})

t.test('shutdown waits for stop hooks still running (on a worker host and on host 0) before it ends the hosts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 't3fs-slow-stop-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0] }] })
  await runtime.spawn(def('slowStop'), { file: join(dir, 'worker'), delayMs: 300 }, { host: 1 })
  await runtime.spawn(def('slowStop'), { file: join(dir, 'main'), delayMs: 300 }, { host: 0 })
  await runtime.shutdown(5_000)
  t.ok(existsSync(join(dir, 'worker')), 'the worker host\'s actor finished its stop hook before its thread ended')
  t.ok(existsSync(join(dir, 'main')), 'host 0\'s did before shutdown returned')
})

t.test('remote errors keep their codes', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0] }] })
  t.teardown(() => runtime.shutdown())
  const a = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 1 })
  await t.rejects(a.ask({ type: 'count', n: 1.5 } as never), { code: 'ERR_INVALID_MESSAGE' })
  const ghost = runtime.system.refFor<EchoMsg>({ node: 1, host: 1, id: 9999, incarnation: runtime.system.incarnation })
  await t.rejects(ghost.ask({ type: 'total' }), { code: 'ERR_UNKNOWN_ADDRESS' })
  await t.rejects(a.ask({ type: 'hang' }, { timeoutMs: 50 }), { code: 'ERR_ASK_TIMEOUT' })
  await t.rejects(runtime.spawn(def('no-such-export'), undefined, { host: 1 }), { code: 'ERR_DEFINITION_NOT_FOUND' })
  t.throws(() => runtime.system.refFor({ node: 1, host: 7, id: 1, incarnation: runtime.system.incarnation }).tell({ type: 'x' }), { code: 'ERR_UNKNOWN_ADDRESS' })
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
  // The last sends may have filled the link again: an ask is refused like a tell until it drains.
  let seen: unknown
  for (;;) {
    try {
      seen = await sink.ask({ type: 'seen' }, { timeoutMs: 30_000 })
      break
    } catch (error) {
      if ((error as { code?: string }).code !== 'ERR_MAILBOX_FULL') throw error
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  t.same(seen, { count: total, inOrder: true })
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

t.test('pooled buffers cross hosts without a copy and return to the pool', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }], bufferPool: { classes: [{ slotBytes: 4096, slots: 4 }] } })
  t.teardown(() => runtime.shutdown())
  const keeper = await runtime.spawn<PoolMsg>(def('poolKeeper'), undefined, { host: 1 })
  const toucher = await runtime.spawn<PoolMsg>(def('poolKeeper'), undefined, { host: 2 })
  const result = await keeper.ask({ type: 'share', with: toucher })
  t.equal(result.seenByOther, 'written on host 1', 'host 2 read what host 1 wrote')
  t.equal(result.seenBack, 'written on host 2', 'host 1 sees host 2 write into the same memory: no copy was made')
  t.same(runtime.system.bufferPool!.inUse(), [0], 'every slot came back')
})

/** Polls (real time) until `check` holds or about 5 s passed; returns whether it held. */
async function eventually(check: () => boolean): Promise<boolean> {
  for (let i = 0; i < 500; i++) {
    if (check()) return true
    await new Promise((r) => setTimeout(r, 10))
  }
  return check()
}

t.test('no slot leaks: a crashed actor\'s slots and a dead host\'s slots come back to the pool', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }], bufferPool: { classes: [{ slotBytes: 4096, slots: 16 }] } })
  t.teardown(() => runtime.shutdown())
  const pool = runtime.system.bufferPool!
  const onOne = await runtime.spawn<HoarderMsg>(def('hoarder'), undefined, { host: 1 })
  const onTwo = await runtime.spawn<HoarderMsg>(def('hoarder'), undefined, { host: 2 })
  t.equal(await onTwo.ask({ type: 'hoard', count: 3 }), 3)
  await onTwo.ask({ type: 'give', to: onOne, count: 4 })
  let held = 0
  t.ok(await eventually(() => { void onOne.ask({ type: 'held' }).then((n) => { held = n }); return held === 4 }), 'host 1 holds four buffers host 2 allocated and sent')
  t.same(pool.inUse(), [7])
  onTwo.tell({ type: 'crash' })
  t.ok(await eventually(() => pool.inUse()[0] === 4), 'the crashed actor\'s three slots came back; the ones it gave away did not')
  t.equal(await onTwo.ask({ type: 'held' }), 0, 'its successor starts empty')
  await runtime.killHost(1)
  t.ok(await eventually(() => pool.inUse()[0] === 0), 'the dead host\'s four slots came back')
})

t.test('many control calls in flight add no exit listeners (no MaxListenersExceededWarning)', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const warnings: string[] = []
  const onWarning = (warning: Error) => warnings.push(warning.name)
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })
  await Promise.all(Array.from({ length: 50 }, () => runtime.stats()))
  await new Promise((r) => setImmediate(r))
  t.same(warnings, [], 'no warning was emitted')
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
  t.ok(stats.messagesPerSecond >= 0)
  t.same(stats.mailboxes.map((m) => [m.kind, m.depth, m.handled]), [['echo', 0, 1]])
  t.same(stats.pin.cpus, [0, 1])
})

const native = await import('../../native/index.ts').catch(() => null)
const pinningSkip = native !== null && native.nativeAvailable() ? false : 'pinning needs the native addon (npm run build:native)'

t.test('each worker host is pinned to the CPUs of its domain (checked in /proc)', { skip: pinningSkip }, async (t) => {
  const cpuCount = (await import('node:os')).cpus().length
  const last = cpuCount - 1
  // Two "domains" of one CPU each, so every host's mask differs from the process's.
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0] }, { id: 1, cpus: [last] }] })
  t.teardown(() => runtime.shutdown())
  const stats = await runtime.stats()
  const { readFileSync } = await import('node:fs')
  for (const [index, host] of stats.entries()) {
    t.ok(host.pin.pinned, `host ${host.host} pinned`)
    const status = readFileSync(`/proc/self/task/${host.pin.threadId}/status`, 'utf8')
    const allowed = /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1]
    t.equal(allowed, String(index === 0 ? 0 : last), `thread ${host.pin.threadId} of host ${host.host} runs only on its domain's CPU`)
  }
  const mainStatus = readFileSync('/proc/self/status', 'utf8')
  t.equal(/Cpus_allowed_list:\s*(\S+)/.exec(mainStatus)?.[1], cpuCount > 1 ? `0-${last}` : '0', 'the main thread is not pinned')
})

t.test('thousands of concurrent asks across hosts each settle with their own reply; asks that outlast a ring of younger ones still fail right', async (t) => {
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const a = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 1 })
  const b = await runtime.spawn<EchoMsg>(def('echo'), undefined, { host: 2 })
  // Older than every ask below (pending-asks.ts keeps 4096 in its ring; these move out of it).
  const timesOut = a.ask({ type: 'hang' }, { timeoutMs: 1_500 })
  const dies = b.ask({ type: 'hang' }, { timeoutMs: 60_000 })
  let wrong = 0
  const total = 3 * 4096
  for (let next = 0; next < total; ) {
    const wave = Array.from({ length: 64 }, () => next++)
    const replies = await Promise.all(wave.map((i) => (i % 2 === 0 ? a : b).ask({ type: 'echo', value: { i, tag: `ask-${i}` } })))
    wave.forEach((i, k) => {
      const r = replies[k] as { i: number; tag: string }
      if (r.i !== i || r.tag !== `ask-${i}`) wrong++
    })
  }
  t.equal(wrong, 0, `${total} asks, 64 at a time over two hosts: every caller got its own reply`)
  await t.rejects(timesOut, { code: 'ERR_ASK_TIMEOUT' }, 'an ask older than the ring times out')
  await runtime.killHost(2)
  await t.rejects(dies, { code: 'ERR_HOST_DIED' }, 'an ask older than the ring fails with its host')
})
