import t from 'tap'
import { defineActor, type ActorRef, type Returns, type Signal } from '../../../runtime/actor.ts'
import { Simulation, type SimNode } from '../../../runtime/testkit/simulation.ts'

type ServerMsg =
  | ({ type: 'echo'; value: string; delayMs: number } & Returns<string>)
  | ({ type: 'later'; to: ActorRef<ServerMsg>; afterMs: number } & Returns<null>)
  | { type: 'note'; value: string }
  | ({ type: 'notes' } & Returns<string[]>)

/** Answers after a delay (a reply that may outlive its asker), and keeps notes told to it. */
const server = defineActor<{ notes: string[] }, ServerMsg, void>({
  kind: 'server',
  init: () => ({ notes: [] }),
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'echo': {
        if (msg.delayMs === 0) return ctx.reply(msg.value)
        const reply = ctx.deferReply()
        ctx.clock.setTimer(msg.delayMs, () => reply.resolve(msg.value))
        return
      }
      case 'later':
        ctx.clock.setTimer(msg.afterMs, () => ctx.tell(msg.to, { type: 'note', value: 'from a timer' }))
        ctx.reply(null)
        return
      case 'note':
        state.notes.push(msg.value)
        return
      case 'notes':
        ctx.reply(state.notes)
    }
  },
})

type WatcherMsg = ({ type: 'watch'; ref: ActorRef } & Returns<null>) | ({ type: 'seen' } & Returns<string[]>)
const watcher = defineActor<string[], WatcherMsg, void>({
  kind: 'watcher',
  init: () => [],
  handle(seen, msg, ctx) {
    if (msg.type === 'watch') ctx.watch(msg.ref)
    else ctx.reply(seen)
  },
  onSignal(seen, signal: Signal) {
    if (signal.type === 'terminated') seen.push(`${signal.reason.kind}@${signal.ref.address.node}`)
  },
})

function cluster(seed: number, faults = {}) {
  const sim = new Simulation(seed, { heartbeatTimeoutMs: 300, reconnectDelayMs: 20, ...faults })
  const serve = (node: SimNode) => { node.system.spawn(server, undefined, { name: 'server' }) }
  const a = sim.addNode('a', { boot: serve })
  const b = sim.addNode('b', { boot: serve })
  const serverOf = (node: SimNode) => node.system.lookup<ServerMsg>('server')!
  const remote = (from: SimNode, to: SimNode) => from.system.refFor<ServerMsg>(serverOf(to).address)
  /** An ask whose outcome (value or error code) is recorded when it settles. */
  const outcome = <T>(p: Promise<T>) => {
    const box: { done: boolean; value?: T | string } = { done: false }
    p.then((value) => { box.done = true; box.value = value }, (error: { code: string }) => { box.done = true; box.value = error.code })
    return box
  }
  return { sim, a, b, serverOf, remote, outcome }
}

t.test('a partition loses what crosses it, both ends report the peer down after the heartbeat timeout, and it heals', async (t) => {
  const { sim, a, b, remote, outcome } = cluster(1)
  const ab = remote(a, b)
  const first = outcome(ab.ask({ type: 'echo', value: 'before', delayMs: 0 }))
  await sim.run({ untilMs: 50 })
  t.same(first, { done: true, value: 'before' })
  sim.partition(a, b)
  const cut = outcome(ab.ask({ type: 'echo', value: 'lost', delayMs: 0 }, { timeoutMs: 10_000 }))
  await sim.run({ untilMs: 200 })
  t.equal(cut.done, false, 'before the timeout the ask just waits: the frame was lost silently')
  await sim.run({ untilMs: 400 })
  t.same(cut, { done: true, value: 'ERR_HOST_DIED' }, 'after the heartbeat timeout it fails, long before its own timeout')
  t.throws(() => ab.tell({ type: 'note', value: 'x' }), { code: /ERR_HOST_DIED|ERR_PEER_DOWN/ }, 'sends to a down peer fail at once')
  sim.heal(a, b)
  await sim.run({ untilMs: 450 })
  const after = outcome(ab.ask({ type: 'echo', value: 'after', delayMs: 0 }))
  await sim.run({ untilMs: 500 })
  t.same(after, { done: true, value: 'after' }, 'after the heal the connection is back')
  t.equal(sim.networkCounters.cut, 1)
})

t.test('an asymmetric partition: one direction still carries messages until the connection is given up', async (t) => {
  const { sim, a, b, remote, serverOf } = cluster(2)
  sim.partition(a, b, { oneWay: true }) // a → b is cut, b → a is not
  remote(a, b).tell({ type: 'note', value: 'from a' })
  remote(b, a).tell({ type: 'note', value: 'from b' })
  await sim.run({ untilMs: 100 })
  t.same(await serverOf(b).ask({ type: 'notes' }), [], 'a → b lost')
  t.same(await serverOf(a).ask({ type: 'notes' }), ['from b'], 'b → a delivered')
  await sim.run({ untilMs: 400 })
  t.throws(() => remote(b, a).tell({ type: 'note', value: 'x' }), { code: /ERR_HOST_DIED|ERR_PEER_DOWN/ }, 'the connection died for both ends')
})

t.test('a node crash: peers hear of it at once, its timers never fire; a restart is a new incarnation', async (t) => {
  const { sim, a, b, remote, serverOf, outcome } = cluster(3)
  const watching = a.system.spawn(watcher, undefined)
  await watching.ask({ type: 'watch', ref: remote(a, b) })
  const pending = outcome(remote(a, b).ask({ type: 'echo', value: 'never', delayMs: 100 }, { timeoutMs: 10_000 }))
  await serverOf(b).ask({ type: 'later', to: remote(b, a), afterMs: 50 })
  const oldIncarnation = b.incarnation
  await sim.run({ untilMs: 10 })
  sim.crashNode(b)
  await sim.run({ untilMs: 20 })
  t.same(pending, { done: true, value: 'ERR_HOST_DIED' }, 'the pending ask failed when the connection reset')
  t.same(await watching.ask({ type: 'seen' }), ['host-died@2'], 'the watcher was told')
  await sim.run({ untilMs: 200 })
  t.same(await serverOf(a).ask({ type: 'notes' }), [], 'the crashed node\'s timer never fired')
  sim.restartNode(b)
  t.equal(b.incarnation, oldIncarnation + 1)
  await sim.run({ untilMs: 250 })
  const fresh = outcome(remote(a, b).ask({ type: 'echo', value: 'hello again', delayMs: 0 }))
  await sim.run({ untilMs: 300 })
  t.same(fresh, { done: true, value: 'hello again' }, 'a ref looked up in the new incarnation works')
})

t.test('after a restart, a stale ref is refused and a late reply for the old incarnation settles nothing', async (t) => {
  const { sim, a, b, remote, outcome } = cluster(4)
  const staleRef = remote(a, b)
  // a asks b a slow question, then a crashes and restarts before the answer: its ids start over.
  outcome(remote(a, b).ask({ type: 'echo', value: 'answer to the old life', delayMs: 100 }, { timeoutMs: 10_000 }))
  await sim.run({ untilMs: 10 })
  sim.crashNode(a)
  sim.restartNode(a)
  await sim.run({ untilMs: 50 })
  // The new life asks with the same correlation ids the old one used.
  const fresh = outcome(remote(a, b).ask({ type: 'echo', value: 'answer to the new life', delayMs: 150 }, { timeoutMs: 10_000 }))
  await sim.run({ untilMs: 150 })
  t.equal(fresh.done, false, 'the old life\'s answer (sent at 110 ms) did not settle the new ask')
  await sim.run({ untilMs: 300 })
  t.same(fresh, { done: true, value: 'answer to the new life' })
  sim.crashNode(b)
  sim.restartNode(b)
  await sim.run({ untilMs: 400 })
  const stale = outcome(a.system.refFor<ServerMsg>(staleRef.address).ask({ type: 'echo', value: 'x', delayMs: 0 }))
  await sim.run({ untilMs: 450 })
  t.same(stale, { done: true, value: 'ERR_STALE_INCARNATION' }, 'b refuses a ref of its earlier incarnation')
})

t.test('a message that cannot be encoded fails in the simulator as it does between threads', async (t) => {
  const { sim, a, b, remote } = cluster(5)
  void sim
  void b
  const bad = { type: 'note', value: 'x', callback: () => 1 } as never
  let simError: { code?: string; message?: string } = {}
  try {
    remote(a, b).tell(bad)
  } catch (error) {
    simError = error as typeof simError
  }
  const { NodeRuntime } = await import('../../../runtime/node-runtime.ts')
  const runtime = await NodeRuntime.start({ hostsPerDomain: 1, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(() => runtime.shutdown())
  const fixture = new URL('../fixtures/mesh-actors.ts', import.meta.url).href
  const echo = await runtime.spawn({ module: fixture, export: 'echo' }, undefined, { host: 1 })
  let threadError: { code?: string; message?: string } = {}
  try {
    echo.tell(bad)
  } catch (error) {
    threadError = error as typeof threadError
  }
  t.equal(simError.code, 'ERR_INVALID_MESSAGE')
  t.equal(simError.code, threadError.code, 'the same code')
  const cause = (message = '') => message.slice(message.indexOf(': ') + 2)
  t.equal(cause(simError.message), cause(threadError.message), 'the same reason')
  t.match(simError.message, /cannot cross to node 2/)
})

t.test('clock skew: each node reads its own time, timers still wait their delay', async (t) => {
  const sim = new Simulation(6, { clockSkewMs: 500 })
  const nodes = [sim.addNode('x'), sim.addNode('y'), sim.addNode('z')]
  const offsets = nodes.map((n) => n.clock.now() - sim.clock.now())
  t.ok(offsets.every((o) => Math.abs(o) <= 500), `offsets ${offsets.map((o) => o.toFixed(0)).join(', ')} within ±500 ms`)
  t.ok(new Set(offsets).size === 3, 'and they differ')
  let firedAt = -1
  nodes[0].clock.setTimer(40, () => { firedAt = sim.clock.now() })
  await sim.run()
  t.equal(firedAt, 40, 'a 40 ms timer fires 40 ms later in simulation time')
})

t.test('a run is a pure function of its seed, faults, crashes and partitions included', async (t) => {
  const trace = async (seed: number) => {
    const { sim, a, b, remote } = cluster(seed, { dropRate: 0.2, duplicateRate: 0.1, reorder: true })
    const events: string[] = []
    for (let i = 0; i < 40; i++) {
      sim.at(i * 5, () => {
        try {
          remote(a, b).ask({ type: 'echo', value: `m${i}`, delayMs: i % 3 }, { timeoutMs: 200 }).then(
            (v) => events.push(`${sim.clock.now().toFixed(3)}:${v}`),
            (e: { code: string }) => events.push(`${sim.clock.now().toFixed(3)}:${e.code}`),
          )
        } catch (error) {
          events.push(`${sim.clock.now().toFixed(3)}:refused:${(error as { code: string }).code}`)
        }
      })
    }
    sim.at(60, () => sim.partition(a, b, { oneWay: true }))
    sim.at(120, () => sim.crashNode(b))
    sim.at(130, () => sim.restartNode(b))
    sim.at(140, () => sim.heal(a, b))
    await sim.run({ untilMs: 600 })
    return events.join('\n')
  }
  const one = await trace(11)
  t.equal(await trace(11), one, 'the same seed, the same run')
  t.not(await trace(12), one, 'another seed, another run')
})

t.test('buggify sites fire only in a simulation that turns them on, the same way for the same seed', async (t) => {
  const probe = defineActor<number, { type: 'try' } | ({ type: 'count' } & Returns<number>), void>({
    kind: 'buggy',
    init: () => 0,
    handle(n, msg, ctx) {
      if (msg.type === 'count') return void ctx.reply(n)
      let fired = 0
      for (let site = 0; site < 16; site++) for (let i = 0; i < 100; i++) if (ctx.buggify(`site-${site}`)) fired++
      return n + fired
    },
  })
  const fires = async (seed: number, buggify: boolean) => {
    const sim = new Simulation(seed, { buggify })
    const ref = sim.addNode('n').system.spawn(probe, undefined)
    ref.tell({ type: 'try' })
    await sim.run()
    return ref.ask({ type: 'count' })
  }
  t.equal(await fires(1, false), 0, 'off: never')
  const on = await fires(1, true)
  t.ok(on > 0, `on: fired ${on} times over 16 sites`)
  t.equal(await fires(1, true), on, 'replayed exactly')
})

type JournalMsg =
  | ({ type: 'append'; text: string; sync: boolean } & Returns<null>)
  | ({ type: 'contents' } & Returns<string>)

/** Appends records to a file on ctx.disk, syncing when told; reads the file back. */
const journal = defineActor<{ length: number }, JournalMsg, void>({
  kind: 'journal',
  init: async (ctx) => {
    const file = await ctx.disk!.open('journal', { create: true })
    const { sizeBytes } = await file.stat()
    await file.close()
    await ctx.disk!.syncDir('')
    return { length: sizeBytes }
  },
  async handle(state, msg, ctx) {
    const file = await ctx.disk!.open('journal', { write: true })
    try {
      if (msg.type === 'append') {
        const bytes = new TextEncoder().encode(msg.text)
        await file.write(bytes, state.length)
        state.length += bytes.length
        if (msg.sync) await file.sync()
        ctx.reply(null)
      } else {
        const bytes = new Uint8Array((await file.stat()).sizeBytes)
        await file.read(bytes, 0)
        ctx.reply(new TextDecoder().decode(bytes))
      }
    } finally {
      await file.close()
    }
  },
})

t.test('a node restart: its SimDisk keeps what was synced and loses (or tears) what was not, over many seeds', async (t) => {
  const outcomes = new Set<string>()
  for (let seed = 1; seed <= 40; seed++) {
    const sim = new Simulation(seed)
    const node = sim.addNode('n', { disk: sim.newDisk('n'), boot: (n) => { n.system.spawn(journal, undefined, { name: 'journal' }) } })
    const ask = async <R>(msg: JournalMsg): Promise<R> => {
      let out: unknown = 'pending'
      node.system.lookup<JournalMsg>('journal')!.ask(msg).then((v) => { out = v }, (e: Error) => { out = e })
      await sim.run()
      if (out instanceof Error || out === 'pending') throw new Error(`seed=${seed}: ${String(out)}`)
      return out as R
    }
    await ask({ type: 'append', text: 'synced-1;', sync: true })
    await ask({ type: 'append', text: 'synced-2;', sync: true })
    await ask({ type: 'append', text: 'unsynced-3;', sync: false })
    t.equal(await ask<string>({ type: 'contents' }), 'synced-1;synced-2;unsynced-3;', `seed=${seed}: before the crash, reads see everything`)
    sim.crashNode(node)
    sim.restartNode(node)
    await sim.run()
    const after = await ask<string>({ type: 'contents' })
    if (!after.startsWith('synced-1;synced-2;')) t.fail(`seed=${seed}: synced records lost: ${JSON.stringify(after)}`)
    const tail = after.slice('synced-1;synced-2;'.length)
    if (tail !== '' && tail.length !== 'unsynced-3;'.length) t.fail(`seed=${seed}: the file's size is neither before nor after the unsynced write: ${JSON.stringify(tail)}`)
    outcomes.add(tail === '' ? 'lost' : tail === 'unsynced-3;' ? 'kept' : 'torn')
  }
  t.same([...outcomes].sort(), ['kept', 'lost', 'torn'], 'across seeds the unsynced write was kept, lost and torn; synced ones always survived')
})
