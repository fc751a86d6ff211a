/**
 * One seeded run of the meta simulation: rounds in which every client sends one to three random
 * requests at once (so they race), the invariants checked after each round against a snapshot of
 * the KV; in some seeds a whole meta node dies and comes back. At the end the clients close what
 * they still have open, GC runs, and every removed file must be gone — its chunks removed through
 * storage before its inode was cleared.
 */
import type { Mutant } from '../../actors/meta/op-context.ts'
import { buildMetaCluster, type MetaCluster } from './meta-cluster.ts'
import { checkHistory, checkStructure, dumpKv } from './meta-checker.ts'
import { issue, type Issued, type OpenHandle } from './meta-workload.ts'

export interface ScenarioStats {
  requests: number
  recorded: number
  refused: number
  steps: number
  crashes: number
  nodeCrashes: number
  gcFiles: number
}

export const DEFAULT_ROUNDS = 24

async function runUntil(c: MetaCluster, done: () => boolean, budgetMs: number): Promise<void> {
  await c.sim.run({ until: done, untilMs: c.sim.clock.now() + budgetMs, maxEvents: 2_000_000 })
}

async function check(c: MetaCluster, history: readonly Issued[], removedFiles: Set<number>): Promise<number> {
  const d = await dumpKv(c.kv)
  const bad = checkStructure(d)
  if (bad !== null) throw new Error(`at ${c.sim.clock.now().toFixed(1)} ms: ${bad}`)
  for (const [id, inode] of d.inodes) if (inode.type === 'file' && inode.nlink === 0) removedFiles.add(id)
  for (const id of removedFiles) {
    if (!d.inodes.has(id) && !c.storage.removed.has(id)) throw new Error(`removed file ${id} was cleared without its chunks being removed through storage first`)
  }
  return checkHistory(d, history, c.answers).recorded
}

export async function metaScenario(seed: number, mutants: readonly Mutant[] = [], rounds = DEFAULT_ROUNDS): Promise<ScenarioStats> {
  const c = await buildMetaCluster(seed, mutants)
  const random = c.sim.forkRandom()
  const history: Issued[] = []
  const open: OpenHandle[][] = c.clients.map(() => [])
  const randoms = c.clients.map(() => c.sim.forkRandom())
  const removedFiles = new Set<number>()
  let sessions = 0
  const sessionSeq = () => `s${++sessions}`
  await c.sim.run({ untilMs: 30 })
  if (random.next() < 0.3) {
    const victim = c.metaNodes[random.int(c.metaNodes.length)]
    const at = c.sim.clock.now() + 50 + random.int(300)
    c.sim.at(at, () => c.sim.crashNode(victim))
    c.sim.at(at + 50 + random.int(200), () => c.sim.restartNode(victim))
  }
  let recorded = 0
  for (let round = 0; round < rounds; round++) {
    const work = c.clients.flatMap((client, i) => Array.from({ length: 1 + randoms[i].int(3) }, () => issue(client, randoms[i], open[i], history, sessionSeq)))
    let done = false
    void Promise.all(work).then(() => { done = true })
    await runUntil(c, () => done, 120_000)
    if (!done) throw new Error(`round ${round} did not finish within 120 s of virtual time`)
    recorded = await check(c, history, removedFiles)
  }
  // Close what is still open, let GC finish, and check that nothing removed is left behind.
  const closes = c.clients.flatMap((client, i) =>
    open[i].splice(0).map(async (h) => {
      const record: Issued = { clientId: client.clientId, requestId: client.newRequestId(), op: { type: 'close', inode: h.inode, hint: 0 } }
      history.push(record)
      const value = await client.request({ type: 'close', inode: h.inode, session: h.session, updateLength: false, requestId: record.requestId })
      record.ack = { ok: true, value }
    }),
  )
  let closed = false
  void Promise.all(closes).then(() => { closed = true })
  await runUntil(c, () => closed, 60_000)
  await c.sim.run({ untilMs: c.sim.clock.now() + 600 })
  await check(c, history, removedFiles)
  const left = [...(await dumpKv(c.kv)).inodes.values()].filter((i) => i.nlink === 0)
  if (left.length > 0) throw new Error(`GC left ${left.length} removed inodes behind with no session open: ${left.map((i) => `${i.id} (${i.type})`).join(', ')}`)
  const refused = history.filter((h) => h.ack !== undefined && h.ack !== 'lost' && !h.ack.ok).length
  return { requests: history.length, recorded, refused, steps: rounds + 1, crashes: c.sim.counters.crashes, nodeCrashes: c.sim.counters.nodeCrashes, gcFiles: removedFiles.size }
}
