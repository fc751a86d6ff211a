/**
 * Three node processes on loopback, started from profiles that share a base file (the cluster
 * table). Frames and one-sided reads flow between them; node 3 is killed with SIGKILL: the others
 * see it down within the heartbeat timeout and nothing waits forever; node 3 restarts from the
 * same profile and traffic resumes.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Command, Report } from './fixtures/transport-node.ts'
import { freePort } from '../../support/free-port.ts'

const fixture = fileURLToPath(new URL('./fixtures/transport-node.ts', import.meta.url))
const HEARTBEAT_TIMEOUT_MS = 1000
const dir = mkdtempSync(join(tmpdir(), 't3fs-multi-'))
const children = new Set<ChildProcess>()
t.teardown(() => {
  for (const c of children) c.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

class NodeProc {
  readonly reports: Report[] = []
  readonly proc: ChildProcess
  #waiters: Array<{ match: (r: Report) => boolean; resolve: (r: Report) => void }> = []

  constructor(readonly node: number, profile: string) {
    this.proc = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), fixture, profile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    children.add(this.proc)
    this.proc.on('exit', () => children.delete(this.proc))
    this.proc.on('message', (r: Report) => {
      this.reports.push(r)
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.match(r)) return true
        w.resolve(r)
        return false
      })
    })
  }

  /** The first report (already seen or future) that matches, within a bounded time. */
  until<R extends Report>(match: (r: Report) => r is R, what: string, timeoutMs = 10_000, since = 0): Promise<R> {
    const seen = this.reports.slice(since).find(match)
    if (seen) return Promise.resolve(seen as R)
    return new Promise<R>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${this.node}: no ${what} within ${timeoutMs}ms`)), timeoutMs)
      this.#waiters.push({ match, resolve: (r) => (clearTimeout(timer), resolve(r as R)) })
    })
  }

  command(c: Command): void {
    this.proc.send(c)
  }

  async result(c: Command): Promise<Extract<Report, { evt: 'result' }>> {
    const since = this.reports.length
    this.command(c)
    return this.until((r): r is Extract<Report, { evt: 'result' }> => r.evt === 'result', `result of ${c.cmd}`, 10_000, since)
  }
}

const isPeer = (node: number, state: 'up' | 'down') => (r: Report): r is Extract<Report, { evt: 'peer' }> => r.evt === 'peer' && r.node === node && r.state === state
const isEcho = (from: number, tag: number) => (r: Report): r is Extract<Report, { evt: 'echoed' }> => r.evt === 'echoed' && r.from === from && r.tag === tag

async function startCluster(name: string): Promise<{ nodes: NodeProc[]; profiles: string[] }> {
  const cdir = join(dir, name)
  mkdirSync(cdir)
  const ports = [await freePort(), await freePort(), await freePort()]
  writeFileSync(
    join(cdir, 'base.toml'),
    [
      '[node]\ncluster_id = "multi"\n[kv]\nbackend = "memory"',
      `[transport]\nkind = "tcp"\nheartbeat_interval = "100ms"\nheartbeat_timeout = "${HEARTBEAT_TIMEOUT_MS}ms"\nreconnect_min = "20ms"\nreconnect_max = "200ms"`,
      ...ports.map((p, i) => `[[peers]]\nnode = ${i + 1}\naddress = "127.0.0.1:${p}"`),
    ].join('\n') + '\n',
  )
  const profiles = ports.map((p, i) => {
    const file = join(cdir, `node${i + 1}.toml`)
    writeFileSync(file, `include = "base.toml"\n[node]\nid = ${i + 1}\n[listen]\ntcp = "127.0.0.1:${p}"\n`)
    return file
  })
  const nodes = profiles.map((file, i) => new NodeProc(i + 1, file))
  for (const n of nodes) await n.until((r): r is Report => r.evt === 'ready', 'ready')
  for (const a of nodes) for (const b of nodes) if (a !== b) await a.until(isPeer(b.node, 'up'), `peer ${b.node} up`)
  return { nodes, profiles }
}

t.test('three nodes from profiles: traffic, kill -9, down within the timeout, restart, traffic again', async (t) => {
  const { nodes, profiles } = await startCluster('kill')
  const [n1, n2] = nodes
  let n3 = nodes[2]

  // Frames between every pair, through the same node ids the router will use.
  let tag = 1
  for (const a of nodes) {
    for (const b of nodes) {
      if (a === b) continue
      const r = await a.result({ cmd: 'echo', to: b.node, tag })
      t.ok(r.ok, `node ${a.node} sends to node ${b.node}`)
      await a.until(isEcho(b.node, tag), `echo from ${b.node}`)
      tag++
    }
  }
  const ready3 = n3.reports.find((r): r is Extract<Report, { evt: 'ready' }> => r.evt === 'ready')!
  const read = await n1.result({ cmd: 'read', to: 3, regionId: ready3.regionId, length: 1 << 20 })
  t.same({ ok: read.ok, firstByte: read.firstByte }, { ok: true, firstByte: 3 }, 'one-sided read of node 3 region')

  // kill -9 node 3 while a large read from it may be in flight.
  const before1 = n1.reports.length
  const before2 = n2.reports.length
  n1.command({ cmd: 'read', to: 3, regionId: ready3.regionId, length: 1 << 20 })
  const killedAt = Date.now()
  n3.proc.kill('SIGKILL')
  const [d1, d2] = await Promise.all([n1.until(isPeer(3, 'down'), 'node 3 down', 5000, before1), n2.until(isPeer(3, 'down'), 'node 3 down', 5000, before2)])
  t.ok(d1.atMs - killedAt <= HEARTBEAT_TIMEOUT_MS + 500, `node 1 saw node 3 down after ${d1.atMs - killedAt}ms`)
  t.ok(d2.atMs - killedAt <= HEARTBEAT_TIMEOUT_MS + 500, `node 2 saw node 3 down after ${d2.atMs - killedAt}ms`)
  const inflight = await n1.until((r): r is Extract<Report, { evt: 'result' }> => r.evt === 'result', 'in-flight read settles', 5000, before1)
  t.ok(inflight.ok || inflight.code === 'ERR_PEER_DOWN', `the in-flight read settled (${inflight.code ?? 'ok'})`)
  const sendDown = await n2.result({ cmd: 'echo', to: 3, tag: 99 })
  t.same({ ok: sendDown.ok, code: sendDown.code }, { ok: false, code: 'ERR_PEER_DOWN' }, 'send to a dead node fails at once')
  t.ok(sendDown.elapsedMs < 100)
  const readDown = await n1.result({ cmd: 'read', to: 3, regionId: ready3.regionId, length: 10 })
  t.same({ ok: readDown.ok, code: readDown.code }, { ok: false, code: 'ERR_PEER_DOWN' }, 'a read from a dead node fails at once')
  t.equal(n1.reports.filter(isPeer(2, 'down')).length, 0, 'nodes 1 and 2 stay up for each other')

  // Restart node 3 from the same profile: everyone reconnects and traffic resumes.
  const mark1 = n1.reports.length
  const mark2 = n2.reports.length
  n3 = new NodeProc(3, profiles[2])
  await n3.until((r): r is Report => r.evt === 'ready', 'ready')
  await Promise.all([n1.until(isPeer(3, 'up'), 'node 3 up again', 10_000, mark1), n2.until(isPeer(3, 'up'), 'node 3 up again', 10_000, mark2)])
  for (const a of [n1, n2]) {
    const r = await a.result({ cmd: 'echo', to: 3, tag: 50 + a.node })
    t.ok(r.ok, `node ${a.node} sends to the restarted node 3`)
    await a.until(isEcho(3, 50 + a.node), 'echo from the restarted node 3', 5000)
    const back = await n3.result({ cmd: 'echo', to: a.node, tag: 60 + a.node })
    t.ok(back.ok)
    await n3.until(isEcho(a.node, 60 + a.node), `echo from node ${a.node}`, 5000)
  }
  const ready3b = n3.reports.find((r): r is Extract<Report, { evt: 'ready' }> => r.evt === 'ready')!
  const read2 = await n2.result({ cmd: 'read', to: 3, regionId: ready3b.regionId, length: 4096 })
  t.same({ ok: read2.ok, firstByte: read2.firstByte }, { ok: true, firstByte: 3 })
  for (const n of [n1, n2, n3]) n.command({ cmd: 'exit' })
  await Promise.all([n1, n2, n3].map((n) => new Promise((r) => (n.proc.exitCode !== null ? r(null) : n.proc.once('exit', r)))))
})

t.test('a frozen node (SIGSTOP) is declared down by heartbeat timeout, and comes back after SIGCONT', async (t) => {
  const { nodes } = await startCluster('stop')
  const [n1, n2, n3] = nodes
  const mark1 = n1.reports.length
  const mark3 = n3.reports.length
  const stoppedAt = Date.now()
  n2.proc.kill('SIGSTOP')
  const [d1, d3] = await Promise.all([n1.until(isPeer(2, 'down'), 'node 2 down', 5000, mark1), n3.until(isPeer(2, 'down'), 'node 2 down', 5000, mark3)])
  for (const [who, d] of [[1, d1], [3, d3]] as const) {
    const after = d.atMs - stoppedAt
    // Silence is only noticed on a heartbeat tick after the timeout: between timeout and timeout + 2 ticks.
    t.ok(after >= HEARTBEAT_TIMEOUT_MS - 100 && after <= HEARTBEAT_TIMEOUT_MS + 1000, `node ${who} saw the frozen node 2 down after ${after}ms`)
  }
  const r = await n1.result({ cmd: 'echo', to: 2, tag: 7 })
  t.equal(r.code, 'ERR_PEER_DOWN')
  n2.proc.kill('SIGCONT')
  await Promise.all([n1.until(isPeer(2, 'up'), 'node 2 up again', 10_000, mark1), n3.until(isPeer(2, 'up'), 'node 2 up again', 10_000, mark3)])
  const again = await n1.result({ cmd: 'echo', to: 2, tag: 8 })
  t.ok(again.ok)
  await n1.until(isEcho(2, 8), 'echo from node 2 after SIGCONT', 5000)
  for (const n of nodes) n.command({ cmd: 'exit' })
  await Promise.all(nodes.map((n) => new Promise((r) => (n.proc.exitCode !== null ? r(null) : n.proc.once('exit', r)))))
})
