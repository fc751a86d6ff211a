/**
 * A simulated mgmtd cluster for the simulation suites: two mgmtd nodes sharing one memory KV (the
 * "FoundationDB" outside the simulated network), storage nodes with one target per chain each,
 * chains uploaded through the primary, and an invariant checker run after every step.
 */
import { chainInvariantError } from '../../actors/mgmtd/chain-state-machine.ts'
import { mgmtdActor, type MgmtdProbe } from '../../actors/mgmtd/mgmtd-actor.ts'
import type { ChainInfo, MgmtdMsg } from '../../actors/mgmtd/protocol.ts'
import { loadSnapshot } from '../../actors/mgmtd/store.ts'
import { openKv, type Kv } from '../../actors/kv/index.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import { sleep } from '../../runtime/clock.ts'
import { Simulation, type FaultPlan } from '../../runtime/testkit/simulation.ts'
import { storageNode } from './mgmtd-storage-node.ts'

export const simMgmtdConfig = {
  leaseLengthMs: 1_000,
  extendLeaseIntervalMs: 250,
  heartbeatFailIntervalMs: 400,
  checkStatusIntervalMs: 100,
  updateChainsIntervalMs: 50,
  newChainBootstrapIntervalMs: 200,
}

export interface SimCluster {
  sim: Simulation
  kv: Kv
  mgmtds: ActorRef<MgmtdMsg>[]
  storage: ActorRef<never>[]
  /** Tokens that believe they are primary, with the lease end they believe in. */
  beliefs: Map<string, { nodeId: number; leaseEndMs: number }>
  checker: InvariantChecker
}

export async function buildCluster(seed: number, faults: FaultPlan, options: { storageNodes: number; chains: number; replicas: number; crashMgmtds: boolean; muteChance?: number }): Promise<SimCluster> {
  const sim = new Simulation(seed, faults)
  const kvRandom = sim.random.fork()
  const kv = await openKv({
    backend: 'memory',
    clock: sim.clock,
    random: kvRandom,
  })
  const beliefs = new Map<string, { nodeId: number; leaseEndMs: number }>()
  const probe: MgmtdProbe = {
    onRole: ({ nodeId, token, primary, leaseEndMs }) => {
      if (primary) beliefs.set(token, { nodeId, leaseEndMs })
      else beliefs.delete(token)
    },
  }
  const mgmtds = [1, 2].map((nodeId) => {
    const ref = sim.addNode(`mgmtd${nodeId}`).system.spawn(mgmtdActor, { nodeId, kv, probe, config: simMgmtdConfig })
    if (options.crashMgmtds) sim.allowCrashes(ref)
    return ref
  })
  // Storage node n holds target n*100+c of every chain c (one replica of each chain per node).
  const chains = Array.from({ length: options.chains }, (_, c) => ({ chainId: c + 1, targets: Array.from({ length: options.replicas }, (_, r) => (((c + r) % options.storageNodes) + 1) * 100 + c + 1) }))
  const storage = Array.from({ length: options.storageNodes }, (_, i) => {
    const nodeId = 10_001 + i
    const targets = chains.flatMap((c) => c.targets).filter((t) => Math.floor(t / 100) === i + 1)
    const ref = sim.addNode(`storage${nodeId}`).system.spawn(storageNode, { nodeId, targets, mgmtds, heartbeatIntervalMs: 100, syncMs: 150, muteChance: options.muteChance ?? 0 })
    sim.allowCrashes(ref)
    return ref as unknown as ActorRef<never>
  })
  // An admin uploads the chains once a primary exists (retrying through drops and failovers).
  const upload = async (): Promise<void> => {
    for (let round = 0; round < 1_000; round++) {
      for (const m of mgmtds) {
        const done = await m.ask({ type: 'set-chains', chains }, { timeoutMs: 300 }).then(() => true, () => false)
        if (done) return
      }
      await sleep(sim.clock, 50)
    }
  }
  void upload()
  return { sim, kv, mgmtds, storage, beliefs, checker: new InvariantChecker(kv, sim, beliefs) }
}

/** The invariants of issue 5 part 6, checked against the KV and the primaries' beliefs. */
export class InvariantChecker {
  private readonly seen = new Map<number, ChainInfo>()
  steps = 0
  /** Coverage: checked (step, chain) pairs showing each state, and changes of the primary seen. */
  readonly coverage = { LASTSRV: 0, SYNCING: 0, WAITING: 0, primaryChanges: 0 }
  private lastPrimary: number | null = null

  constructor(
    private readonly kv: Kv,
    private readonly sim: Simulation,
    private readonly beliefs: Map<string, { nodeId: number; leaseEndMs: number }>,
  ) {}

  async check(): Promise<void> {
    this.steps++
    const now = this.sim.clock.now()
    const believers = [...this.beliefs.values()].filter((b) => now < b.leaseEndMs)
    if (believers.length > 1) throw new Error(`at ${now.toFixed(1)} ms ${believers.length} mgmtds hold the lease at once: nodes ${believers.map((b) => b.nodeId).join(', ')}`)
    if (believers.length === 1 && believers[0].nodeId !== this.lastPrimary) {
      if (this.lastPrimary !== null) this.coverage.primaryChanges++
      this.lastPrimary = believers[0].nodeId
    }
    const snapshot = await loadSnapshot(this.kv)
    for (const chain of snapshot.chains) {
      const before = this.seen.get(chain.chainId)
      if (before !== undefined && chain.chainVersion < before.chainVersion) {
        throw new Error(`at ${now.toFixed(1)} ms chain ${chain.chainId} went from version ${before.chainVersion} back to ${chain.chainVersion}`)
      }
      if (before !== undefined && chain.chainVersion === before.chainVersion && JSON.stringify(chain.targets) !== JSON.stringify(before.targets)) {
        throw new Error(`at ${now.toFixed(1)} ms chain ${chain.chainId} changed its targets without a version bump (v${chain.chainVersion})`)
      }
      const broken = chainInvariantError(chain)
      if (broken !== null) throw new Error(`at ${now.toFixed(1)} ms ${broken}`)
      this.seen.set(chain.chainId, chain)
      for (const state of ['LASTSRV', 'SYNCING', 'WAITING'] as const) if (chain.targets.some((x) => x.publicState === state)) this.coverage[state]++
    }
  }

  get chains(): ChainInfo[] {
    return [...this.seen.values()]
  }
}

/** Runs the simulation in steps of `stepMs`, checking the invariants after each. */
export async function runChecked(cluster: SimCluster, untilMs: number, stepMs: number): Promise<void> {
  for (let t = cluster.sim.clock.now() + stepMs; t <= untilMs; t += stepMs) {
    await cluster.sim.run({ untilMs: t, maxEvents: 200_000 })
    await cluster.checker.check()
  }
}
