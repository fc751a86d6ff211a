import t from 'tap'
import { exploreSeeds, Simulation } from '../../runtime/testkit/simulation.ts'
import { client, findStaleRead, replica, type ClientMsg, type ReplicaMsg } from './quorum-register.ts'

const faults = { dropRate: 0.1, duplicateRate: 0.05, minDelayMs: 0.5, maxDelayMs: 15, reorder: true, crashEveryMs: 40 }

/** One seeded run: three replicas on three nodes, one client on a fourth, faults everywhere. */
async function scenario(seed: number, writeQuorum: number, readQuorum: number): Promise<void> {
  const sim = new Simulation(seed, faults)
  const replicas = ['r1', 'r2', 'r3'].map((name) => {
    const node = sim.addNode(name)
    const ref = node.system.spawn(replica, { disk: node.durable })
    sim.allowCrashes(ref)
    return ref
  })
  const clientNode = sim.addNode('client')
  const clientRef = clientNode.system.spawn(client, { replicas, writeQuorum, readQuorum })
  let history: Awaited<ReturnType<typeof clientRef.ask<ClientMsg>>> | null = null
  let failure: unknown = null
  clientRef.ask({ type: 'run', operations: 20 }, { timeoutMs: 600_000 }).then((h) => { history = h }, (e: unknown) => { failure = e })
  await sim.run({ until: () => history !== null || failure !== null, maxEvents: 200_000 })
  if (failure !== null) throw failure
  if (history === null) throw new Error(`the client did not finish (virtual time ${sim.clock.now().toFixed(1)} ms)`)
  const stale = findStaleRead(history)
  if (stale !== null) throw new Error(stale)
}

t.test('the buggy variant (W=1, R=2) is caught within 1000 seeds, with its seed printed', async (t) => {
  const lines: string[] = []
  const failure = await exploreSeeds({ seeds: 1000, log: (line) => { lines.push(line); t.comment(line) } }, (seed) => scenario(seed, 1, 2))
  t.ok(failure, 'a failing seed was found')
  t.match(lines[0], /seed=\d+ \(replay with T3FS_SEED=\d+\)/, 'the seed is printed')
  if (failure !== null) {
    let replayed: unknown = null
    await scenario(failure.seed, 1, 2).catch((e: unknown) => { replayed = e })
    t.equal(String(replayed), String(failure.error), 'the same seed replays the same failure')
  }
})

t.test('the correct variant (W=2, R=2) passes 1000 seeds', async (t) => {
  const started = Date.now()
  const failure = await exploreSeeds({ seeds: 1000, log: (line) => t.comment(line) }, (seed) => scenario(seed, 2, 2))
  t.equal(failure, null, 'no seed breaks read-after-acknowledged-write')
  t.comment(`1000 seeds in ${((Date.now() - started) / 1000).toFixed(1)} s`)
})

t.test('a run is a pure function of its seed', async (t) => {
  const trace = async (seed: number) => {
    const sim = new Simulation(seed, faults)
    const node = sim.addNode('r')
    const ref = node.system.spawn(replica, { disk: node.durable })
    sim.allowCrashes(ref)
    const c = sim.addNode('c').system.spawn(client, { replicas: [ref as never as import('../../runtime/actor.ts').ActorRef<ReplicaMsg>], writeQuorum: 1, readQuorum: 1 })
    let out: unknown = null
    c.ask({ type: 'run', operations: 8 }, { timeoutMs: 600_000 }).then((h) => { out = h })
    await sim.run({ until: () => out !== null })
    return JSON.stringify({ out, counters: sim.counters, now: sim.clock.now() })
  }
  t.equal(await trace(42), await trace(42))
  t.not(await trace(42), await trace(43))
})
