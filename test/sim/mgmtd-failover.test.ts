import t from 'tap'
import { exploreSeeds } from '../../runtime/testkit/simulation.ts'
import { buildCluster, runChecked, simMgmtdConfig } from './mgmtd-cluster.ts'

const faults = { dropRate: 0.05, duplicateRate: 0.02, minDelayMs: 0.5, maxDelayMs: 10, crashEveryMs: 0 }
const seeds = Number(process.env.T3FS_FAILOVER_SEEDS ?? 100)

interface FailoverResult {
  takeoverMs: number
  killedNode: number
  newNode: number
}

/** Kill the primary mgmtd for good; the other must take over within one lease period and keep the cluster going. */
async function failover(seed: number): Promise<FailoverResult> {
  const cluster = await buildCluster(seed, faults, { storageNodes: 4, chains: 4, replicas: 3, crashMgmtds: false })
  const { sim, beliefs, mgmtds } = cluster
  await runChecked(cluster, 1_500, 50)
  await runChecked(cluster, 1_500 + (seed * 37) % 250, 1) // kill at a seed-chosen point between lease extensions
  const now = (): number => sim.clock.now()
  const primaryNow = (): number | null => [...beliefs.values()].find((b) => now() < b.leaseEndMs)?.nodeId ?? null
  const killed = primaryNow()
  if (killed === null) throw new Error('no primary after 1.5 s')
  const versionsBefore = new Map(cluster.checker.chains.map((c) => [c.chainId, c.chainVersion]))
  if (versionsBefore.size !== 4) throw new Error(`chains were not uploaded before the kill (${versionsBefore.size} of 4)`)
  const killedAtMs = now()
  sim.nodes[killed - 1].system.stop(mgmtds[killed - 1])
  let takeoverAtMs: number | null = null
  for (let step = 0; step < 60 && takeoverAtMs === null; step++) {
    await runChecked(cluster, now() + 25, 25)
    const p = primaryNow()
    if (p !== null && p !== killed) takeoverAtMs = now()
  }
  if (takeoverAtMs === null) throw new Error(`node ${3 - killed} did not take over within 1.5 s of killing node ${killed}`)
  const takeoverMs = takeoverAtMs - killedAtMs
  if (takeoverMs > simMgmtdConfig.leaseLengthMs + 25) throw new Error(`takeover took ${takeoverMs.toFixed(1)} ms, more than the lease period (${simMgmtdConfig.leaseLengthMs} ms) plus one 25 ms step`)
  // The new primary serves: it knows the chains at versions no older than before, and reacts to a node crash.
  const survivor = mgmtds[2 - killed]
  let info = null as Awaited<ReturnType<typeof survivor.ask<{ type: 'get-routing-info' }>>>
  void survivor.ask({ type: 'get-routing-info' }, { timeoutMs: 100 }).then((r) => { info = r })
  await runChecked(cluster, now() + 50, 50)
  if (info === null) throw new Error('the new primary did not answer get-routing-info')
  for (const c of info.chains) if (c.chainVersion < (versionsBefore.get(c.chainId) ?? 0)) throw new Error(`chain ${c.chainId} went back from v${versionsBefore.get(c.chainId)} to v${c.chainVersion} across failover`)
  sim.nodes.find((n) => n.name === 'storage10001')!.system.stop(cluster.storage[0])
  await runChecked(cluster, now() + 1_200, 50)
  const dead = cluster.checker.chains.flatMap((c) => c.targets).filter((x) => Math.floor(x.targetId / 100) === 1)
  if (dead.some((x) => x.publicState === 'SERVING' || x.publicState === 'SYNCING')) throw new Error(`after the new primary took over, targets of the stopped storage node are still ${dead.map((x) => `${x.targetId}:${x.publicState}`).join(', ')}`)
  return { takeoverMs, killedNode: killed, newNode: 3 - killed }
}

t.test(`the standby takes over within the lease period after the primary is killed (${seeds} seeds)`, async (t) => {
  const started = Date.now()
  const takeovers: number[] = []
  const failure = await exploreSeeds({ seeds, log: (line) => t.comment(line) }, async (seed) => {
    takeovers.push((await failover(seed)).takeoverMs)
  })
  t.equal(failure, null, 'every seed: one primary at a time, takeover ≤ lease, the new primary serves and tracks failures')
  takeovers.sort((a, b) => a - b)
  t.comment(`lease ${simMgmtdConfig.leaseLengthMs} ms: takeover after kill min ${takeovers[0]?.toFixed(0)} / median ${takeovers[takeovers.length >> 1]?.toFixed(0)} / max ${takeovers.at(-1)?.toFixed(0)} ms; ${((Date.now() - started) / 1000).toFixed(1)} s`)
})
