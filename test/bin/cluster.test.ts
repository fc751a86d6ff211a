/**
 * Three nodes started by `t3fs launch` from profiles that share a base file (the cluster table),
 * each hosting a relay actor. Actors on different nodes talk through refs exactly as neighbours
 * do; kill -9 of one node: the others see it down within the heartbeat timeout, asks to it fail
 * fast, watchers are told; relaunched from the same profile, traffic resumes.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ActorSystem } from '../../runtime/actor-system.ts'
import { allocateBufferPool, BufferPool } from '../../runtime/buffer-pool.ts'
import { allocateMesh, HostMesh } from '../../runtime/host-mesh.ts'
import { createLogger } from '../../runtime/logger.ts'
import { NetworkRoute } from '../../runtime/network-route.ts'
import { lookupOn } from '../../runtime/node-client.ts'
import { TcpTransport } from '../../runtime/transport/tcp-transport.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import { formatAddress } from '../../runtime/address.ts'
import type { RelayMsg } from './fixtures/relay-actor.ts'
import { freePort } from '../support/free-port.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'bin/t3fs.mjs')
const HEARTBEAT_TIMEOUT_MS = 1000
const CLIENT_NODE = 900
const dir = mkdtempSync(join(tmpdir(), 't3fs-cluster-'))
const nodes = new Set<ChildProcess>()
t.teardown(() => {
  for (const n of nodes) n.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
})

/** Launches a node and resolves once it logged NodeStarted (or rejects with its log). */
async function launch(profile: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [bin, 'launch', profile], { stdio: ['ignore', 'ignore', 'pipe'] })
  nodes.add(child)
  child.on('exit', () => nodes.delete(child))
  let log = ''
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start in 20 s: ${log}`)), 20_000)
    child.stderr!.on('data', (c: Buffer) => {
      log += c.toString()
      if (log.includes('"evt":"NodeStarted"')) {
        clearTimeout(timer)
        resolve()
      }
    })
    child.on('exit', (code) => reject(new Error(`node exited (${code}) before it started: ${log}`)))
  })
  return child
}

function code(p: Promise<unknown>): Promise<{ code: string; ms: number }> {
  const started = Date.now()
  return p.then(
    () => ({ code: 'ok', ms: Date.now() - started }),
    (e: { code?: string }) => ({ code: e.code ?? String(e), ms: Date.now() - started }),
  )
}

t.test('launched nodes: refs across nodes, kill -9, fast failure and death watch, relaunch', async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()]
  writeFileSync(
    join(dir, 'base.toml'),
    [
      `[node]\ncluster_id = "relay"\nroot = ${JSON.stringify(repo)}`,
      '[placement]\nhosts_per_domain = 1\n[kv]\nbackend = "memory"\n[log]\nlevel = "info"\n[shutdown]\ngrace_period = "1s"',
      `[transport]\nkind = "tcp"\nheartbeat_interval = "100ms"\nheartbeat_timeout = "${HEARTBEAT_TIMEOUT_MS}ms"\nreconnect_min = "20ms"\nreconnect_max = "200ms"`,
      ...ports.map((p, i) => `[[peers]]\nnode = ${i + 1}\naddress = "127.0.0.1:${p}"`),
      '[[actors]]\nname = "relay"\nmodule = "test/bin/fixtures/relay-actor.ts"\nexport = "relay"\nhost = 1',
    ].join('\n') + '\n',
  )
  const profiles = ports.map((p, i) => {
    const file = join(dir, `node${i + 1}.toml`)
    writeFileSync(file, `include = "base.toml"\n[node]\nid = ${i + 1}\n[listen]\ntcp = "127.0.0.1:${p}"\n`)
    return file
  })
  const procs = await Promise.all(profiles.map(launch))

  // This test process joins as client node 900 with the same cluster table.
  const system = new ActorSystem({ node: CLIENT_NODE, host: 0, log: createLogger({ level: 'error' }), bufferPool: new BufferPool(allocateBufferPool({ classes: [{ slotBytes: 1 << 16, slots: 4 }] })) })
  const transport = new TcpTransport({ nodeId: CLIENT_NODE, clusterId: 'relay', listen: { host: '127.0.0.1', port: 0 }, peers: ports.map((p, i) => ({ node: i + 1, address: { host: '127.0.0.1', port: p } })), heartbeatIntervalMs: 100, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS, reconnectMinMs: 20, reconnectMaxMs: 200 })
  new NetworkRoute(system, new HostMesh(system, allocateMesh(1)), transport)
  await transport.start()
  t.teardown(async () => {
    system.shutdown()
    await transport.close()
  })
  const upOrDown = (node: number, state: 'up' | 'down'): Promise<number> =>
    new Promise((resolve) => {
      if (transport.peerPhase(node) === state) return resolve(Date.now())
      transport.onPeerState((n, s) => n === node && s === state && resolve(Date.now()))
    })
  await Promise.all([1, 2, 3].map((n) => upOrDown(n, 'up')))
  const lookup = async (node: number): Promise<ActorRef<RelayMsg>> => {
    for (let i = 0; ; i++) {
      try {
        return await lookupOn<RelayMsg>(system, node, 'relay', 3000)
      } catch (error) {
        if (i >= 20) throw error
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }
  const relays = [await lookup(1), await lookup(2), await lookup(3)]
  for (const r of relays) t.same(await r.ask({ type: 'ping' }), { node: r.address.node })

  // Actor on node a asks actor on node b through a ref that came in a message.
  for (const [a, b] of [[0, 1], [1, 2], [2, 0], [0, 2]]) {
    t.same(await relays[a].ask({ type: 'forward', to: relays[b], timeoutMs: 5000 }), { node: b + 1 }, `relay@${a + 1} → relay@${b + 1}`)
  }
  t.ok(await relays[0].ask({ type: 'watch', ref: relays[2] }))
  t.ok(await relays[1].ask({ type: 'watch', ref: relays[2] }))

  // kill -9 node 3.
  const killedAt = Date.now()
  const clientSawDown = upOrDown(3, 'down')
  procs[2].kill('SIGKILL')
  const inFlight = code(relays[0].ask({ type: 'forward', to: relays[2], timeoutMs: 30_000 }))
  const sawDown = (await clientSawDown) - killedAt
  t.ok(sawDown <= HEARTBEAT_TIMEOUT_MS + 500, `the client saw node 3 down after ${sawDown}ms`)
  const first = await inFlight
  t.equal(first.code, 'ERR_HOST_DIED', 'an ask to the dead node fails with a coded error')
  t.ok(first.ms <= HEARTBEAT_TIMEOUT_MS + 1000, `…after ${first.ms}ms, not after its 30 s timeout`)
  const again = await code(relays[1].ask({ type: 'forward', to: relays[2], timeoutMs: 30_000 }))
  t.same({ code: again.code, fast: again.ms < 500 }, { code: 'ERR_HOST_DIED', fast: true }, 'later asks fail at once')
  for (const r of relays.slice(0, 2)) {
    let status = await r.ask({ type: 'status' })
    for (let i = 0; i < 20 && status.terminated.length === 0; i++) {
      await new Promise((res) => setTimeout(res, 50))
      status = await r.ask({ type: 'status' })
    }
    t.same(status.terminated, [{ address: formatAddress(relays[2].address), reason: 'host-died' }], `relay@${r.address.node} was told its watched actor died`)
  }
  t.same(await relays[0].ask({ type: 'forward', to: relays[1], timeoutMs: 5000 }), { node: 2 }, 'nodes 1 and 2 still talk')

  // Relaunch node 3 from the same profile: traffic resumes.
  const clientSawUp = upOrDown(3, 'up')
  procs[2] = await launch(profiles[2])
  await clientSawUp
  const relay3 = await lookup(3)
  for (const a of [0, 1]) t.same(await relays[a].ask({ type: 'forward', to: relay3, timeoutMs: 5000 }), { node: 3 }, `relay@${a + 1} → relaunched relay@3`)
  t.same(await relay3.ask({ type: 'forward', to: relays[0], timeoutMs: 5000 }), { node: 1 }, 'relaunched relay@3 → relay@1')

  for (const p of procs) p.kill('SIGTERM')
  await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))))
})
