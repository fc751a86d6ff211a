import t from 'tap'
import { exploreSeeds } from '../../runtime/testkit/simulation.ts'
import { buildCluster, runChecked } from './mgmtd-cluster.ts'

/** Heartbeat loss (single drops and 300-900 ms silences), duplicates, reordering, and random crashes of storage nodes and both mgmtds. */
const faults = { dropRate: 0.08, duplicateRate: 0.03, minDelayMs: 0.5, maxDelayMs: 12, crashEveryMs: 250 }
const seeds = Number(process.env.T3FS_MGMTD_SEEDS ?? 500)

const coverage = { LASTSRV: 0, SYNCING: 0, WAITING: 0, primaryChanges: 0 }

async function scenario(seed: number): Promise<{ steps: number; maxVersion: number; crashes: number }> {
  const cluster = await buildCluster(seed, faults, { storageNodes: 4, chains: 4, replicas: 3, crashMgmtds: true, muteChance: 0.03 })
  await runChecked(cluster, 2_000, 50)
  const maxVersion = Math.max(0, ...cluster.checker.chains.map((c) => c.chainVersion))
  for (const key of Object.keys(coverage) as (keyof typeof coverage)[]) coverage[key] += cluster.checker.coverage[key]
  return { steps: cluster.checker.steps, maxVersion, crashes: cluster.sim.counters.crashes }
}

t.test(`mgmtd invariants hold after every step over ${seeds} seeds`, async (t) => {
  const started = Date.now()
  let steps = 0
  let crashes = 0
  let versions = 0
  let chainsMoved = 0
  const failure = await exploreSeeds({ seeds, log: (line) => t.comment(line) }, async (seed) => {
    const r = await scenario(seed)
    steps += r.steps
    crashes += r.crashes
    versions += r.maxVersion
    if (r.maxVersion > 1) chainsMoved++
  })
  t.equal(failure, null, 'chain versions only grow, at most one SYNCING per chain, exactly one LASTSRV when nothing serves, never two primaries')
  t.ok(chainsMoved > seeds / 2, `chains changed state in most runs (${chainsMoved}/${seeds}), so the checks had work to do`)
  t.ok(coverage.LASTSRV > 0 && coverage.SYNCING > 0 && coverage.primaryChanges > 0, `states exercised (chain-steps): ${JSON.stringify(coverage)}`)
  const seconds = (Date.now() - started) / 1000
  t.comment(`${seeds} seeds, ${steps} checked steps, ${crashes} crashes, mean highest chain version ${(versions / seeds).toFixed(1)}, ${seconds.toFixed(1)} s`)
})

t.test('the checker catches what it must: a version going back, two SYNCING, no LASTSRV, two lease holders', async (t) => {
  const { encode, keys } = await import('../../actors/mgmtd/store.ts')
  const cluster = await buildCluster(1, {}, { storageNodes: 3, chains: 1, replicas: 3, crashMgmtds: false })
  await runChecked(cluster, 600, 50)
  const write = (chain: unknown) => cluster.kv.transact((tx) => tx.set(keys.chain(1), encode(chain)))
  const [chain] = cluster.checker.chains
  await write({ ...chain, chainVersion: chain.chainVersion + 5 })
  await cluster.checker.check()
  await write({ ...chain, chainVersion: chain.chainVersion + 4 })
  await t.rejects(cluster.checker.check(), /went from version \d+ back to \d+/)
  await write({ chainId: 1, chainVersion: 100, targets: [{ targetId: 1, publicState: 'SERVING' }, { targetId: 2, publicState: 'SYNCING' }, { targetId: 3, publicState: 'SYNCING' }] })
  await t.rejects(cluster.checker.check(), /has 2 SYNCING targets/)
  await write({ chainId: 1, chainVersion: 101, targets: [{ targetId: 1, publicState: 'OFFLINE' }, { targetId: 2, publicState: 'WAITING' }] })
  await t.rejects(cluster.checker.check(), /no SERVING target and 0 LASTSRV/)
  await write({ chainId: 1, chainVersion: 102, targets: [{ targetId: 1, publicState: 'SERVING' }] })
  cluster.beliefs.set('x', { nodeId: 7, leaseEndMs: cluster.sim.clock.now() + 1_000 })
  await t.rejects(cluster.checker.check(), /2 mgmtds hold the lease at once/)
})
