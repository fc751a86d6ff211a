/**
 * Meta servers from profiles: two `t3fs launch` processes, node 1 with mgmtd and a meta server,
 * node 2 with two meta servers, all over one LMDB environment (shared by the two processes); a
 * tree made through node 2 is seen through node 1, and `t3fs admin` reaches both.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { MetaClient } from '../../../actors/meta/meta-client.ts'
import type { MetaMsg, MetaStatus } from '../../../actors/meta/protocol.ts'
import type { MgmtdMsg, NodeInfo } from '../../../actors/mgmtd/protocol.ts'
import { systemClock } from '../../../runtime/clock.ts'
import { connectToNode } from '../../../runtime/node-client.ts'
import { systemRandom } from '../../../runtime/random.ts'

const repo = fileURLToPath(new URL('../../../', import.meta.url))
const bin = join(repo, 'bin/t3fs.mjs')
const dir = mkdtempSync(join(tmpdir(), 't3fs-meta-launch-'))
const metaModule = join(repo, 'actors/meta/meta-actor.ts')

const freePort = () => new Promise<number>((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const port = (server.address() as { port: number }).port
    server.close(() => resolve(port))
  })
})

const meta = (name: string, host: number, serverId: number): string[] => [
  '[[actors]]', `name = "${name}"`, `module = "${metaModule}"`, 'export = "metaActor"', `host = ${host}`, '[actors.params]', `server_id = ${serverId}`, 'mgmtd_node = 1', 'membership_heartbeat_interval = "200ms"', 'membership_timeout = "3s"', 'mgmtd_heartbeat_interval = "200ms"',
]

const profile = (node: number, ports: number[], actors: string[]): string => [
  '[node]', `id = ${node}`, `root = ${JSON.stringify(dir)}`, '[listen]', `tcp = "127.0.0.1:${ports[node - 1]}"`, '[placement]', 'hosts_per_domain = 2',
  '[kv]', 'backend = "lmdb"', 'path = "var/kv"', '[shutdown]', 'grace_period = "1s"',
  ...ports.flatMap((p, i) => ['[[peers]]', `node = ${i + 1}`, `address = "127.0.0.1:${p}"`]),
  ...actors, '',
].join('\n')

function launch(t: Tap, file: string): Promise<ChildProcess> {
  const node = spawn(process.execPath, [bin, 'launch', file], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { node.kill('SIGKILL') })
  let log = ''
  return new Promise((resolve, reject) => {
    node.stderr!.on('data', (c: Buffer) => { log += c.toString(); if (log.includes('"evt":"NodeStarted"')) resolve(node) })
    node.on('exit', (code) => reject(new Error(`the node exited (${code}) before it started: ${log}`)))
  })
}
type Tap = { teardown(fn: () => void): void }

t.test('meta servers of two processes share one LMDB KV and one membership', async (t) => {
  const ports = [await freePort(), await freePort()]
  const mgmtd = ['[[actors]]', 'name = "mgmtd"', `module = "${join(repo, 'actors/mgmtd/mgmtd-actor.ts')}"`, 'export = "mgmtdActor"', 'host = 1']
  writeFileSync(join(dir, 'n1.toml'), profile(1, ports, [...mgmtd, ...meta('meta', 2, 100)]))
  writeFileSync(join(dir, 'n2.toml'), profile(2, ports, [...meta('meta', 1, 200), ...meta('meta2', 2, 201)]))
  await launch(t, join(dir, 'n1.toml'))
  await launch(t, join(dir, 'n2.toml'))
  const c1 = await connectToNode({ address: `127.0.0.1:${ports[0]}`, node: 1, clientNode: 61501 })
  const c2 = await connectToNode({ address: `127.0.0.1:${ports[1]}`, node: 2, clientNode: 61502 })
  t.teardown(async () => { await c1.close(); await c2.close() })
  const m1 = await c1.lookup<MetaMsg>('meta')
  const m2 = [await c2.lookup<MetaMsg>('meta'), await c2.lookup<MetaMsg>('meta2')]
  let status: MetaStatus | null = null
  for (let i = 0; i < 100; i++) {
    status = (await m1.ask({ type: 'status' })) as MetaStatus
    if (status.members.length === 3) break
    await new Promise((r) => setTimeout(r, 100))
  }
  t.same(status?.members, [100, 200, 201], 'node 1\'s meta server sees all three servers live')
  const client = (servers: typeof m2, id: string) => new MetaClient({ servers, clientId: id, user: { uid: 0, gid: 0 }, clock: systemClock, random: systemRandom, timeoutMs: 5_000 })
  const through2 = client(m2, 'via-node-2')
  await through2.request({ type: 'mkdirs', path: { path: '/shared/a' }, perm: 0o755, recursive: true })
  await through2.request({ type: 'symlink', path: { path: '/shared/a/link' }, target: '/shared' })
  const seen = await client([m1], 'via-node-1').request({ type: 'list', path: { path: '/shared/a' } })
  t.same(seen.entries.map((e) => e.name), ['link'], 'what node 2 made, node 1 reads from the same KV')
  const admin = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, 'admin', '--meta', `127.0.0.1:${ports[1]}`, '--meta-node', '2', '--meta-name', 'meta2', 'ls', '/shared/a'], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.on('exit', (code) => resolve({ code, out }))
  })
  t.equal(admin.code, 0)
  t.match(admin.out, /l0777\s+\d+\s+0\s+0\s+-\s+\S+\s+link/, '`t3fs admin ls` through node 2\'s second meta server')
  const mgmtdRef = await c1.lookup<MgmtdMsg>('mgmtd')
  let node2: NodeInfo | undefined
  for (let i = 0; i < 100; i++) {
    node2 = (await mgmtdRef.ask({ type: 'get-routing-info' }))?.nodes.find((n) => n.nodeId === 2)
    if (node2?.status === 'HEARTBEAT_CONNECTED') break
    await new Promise((r) => setTimeout(r, 100))
  }
  t.match(node2, { type: 'META', status: 'HEARTBEAT_CONNECTED', endpoint: `127.0.0.1:${ports[1]}` }, 'node 2 heartbeats to mgmtd as a META node with its endpoint')
  t.same(node2?.services, { meta: m2[0].address, meta2: m2[1].address }, 'one heartbeat for the node, reporting both meta actors')
  t.notOk((await mgmtdRef.ask({ type: 'get-routing-info' }))?.nodes.some((n) => n.nodeId === 1 && n.type === 'META'), 'node 1 (mgmtd\'s) sends no META heartbeat')
})
