import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { adminCommand, type AdminDeps } from '../../../actors/mgmtd/admin/cli.ts'
import type { HeartbeatInfo, MgmtdMsg } from '../../../actors/mgmtd/protocol.ts'
import { NodeRuntime } from '../../../runtime/node-runtime.ts'
import { connectToNode } from '../../../runtime/node-client.ts'
import { TcpTransport } from '../../../runtime/transport/tcp-transport.ts'

const repo = fileURLToPath(new URL('../../../', import.meta.url))
const mgmtdModule = new URL('../../../actors/mgmtd/mgmtd-actor.ts', import.meta.url).href
const dir = mkdtempSync(join(tmpdir(), 't3fs-admin-'))
const file = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}

/** A node like `t3fs launch` starts: NodeRuntime with a TCP listener and mgmtd on worker host 1. */
const transport = new TcpTransport({ nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2_000 })
const node = await NodeRuntime.start({ node: 1, hostsPerDomain: 1, domains: [{ id: 0, cpus: [0, 1] }], transport })
const mgmtd = await node.spawn<MgmtdMsg>({ module: mgmtdModule, export: 'mgmtdActor' }, { nodeKv: { backend: 'memory' }, new_chain_bootstrap_interval: '300ms', update_chains_interval: '50ms' }, { host: 1, name: 'mgmtd' })
t.teardown(() => node.shutdown())
const address = `127.0.0.1:${transport.port}`
for (let i = 0; i < 100 && !(await mgmtd.ask({ type: 'status' })).primary; i++) await new Promise((r) => setTimeout(r, 20))

let clientNode = 61000
/** Every invocation connects over TCP as its own short-lived client node, as a separate process would. */
const deps: AdminDeps = {
  async connect(target) {
    const client = await connectToNode({ address: target.address, node: target.node, clientNode: clientNode++, connectTimeoutMs: target.timeoutMs })
    try {
      return { mgmtd: await client.lookup<MgmtdMsg>(target.name), close: () => client.close() }
    } catch (error) {
      await client.close()
      throw error
    }
  },
  readFile: async (path) => (await import('node:fs/promises')).readFile(path, 'utf8'),
}

async function admin(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await adminCommand(['--mgmtd', address, ...args], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, deps)
  return { code, out: out.join(''), err: err.join('') }
}

let hbVersion = 0
const heartbeat = (nodeId: number, targets: HeartbeatInfo['targets']) =>
  mgmtd.ask({ type: 'heartbeat', info: { nodeId, type: 'STORAGE', hostname: `storage${nodeId}`, incarnation: 1, hbVersion: ++hbVersion, timestampMs: Date.now(), targets } })

t.test('init-cluster: once, idempotent when repeated, refused when different; bad arguments are usage errors', async (t) => {
  let r = await admin('init-cluster', '1', '1MiB', '16', '--cluster-id', 'stage')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /cluster stage initialized: chain table 1, chunk size 1048576 bytes, stripe 16/)
  t.equal((await admin('init-cluster', '1', '1048576', '16', '--cluster-id', 'stage')).code, 0, 'the same settings again succeed')
  r = await admin('init-cluster', '2', '1MiB', '16', '--cluster-id', 'stage')
  t.equal(r.code, 1)
  t.match(r.err, /already initialized.*\[ERR_MGMTD_CLUSTER_ALREADY_INITIALIZED\]/)
  r = await admin('init-cluster', '1', 'lots', '16')
  t.equal(r.code, 2)
  t.match(r.err, /chunkSize "lots" is not accepted; accepted: an integer number of bytes or a size string/)
  t.match(r.err, /usage: t3fs admin init-cluster <chainTableId> <chunkSize> <stripeSize>/)
  r = await admin('init-cluster', '1', '1000', '16', '--cluster-id', 'other')
  t.equal(r.code, 1)
  t.match(r.err, /chunk size 1000 is not accepted; accepted: a power of 2 from 65536/)
  t.equal((await admin('init-cluster', '1')).code, 2, 'missing arguments')
  t.match((await admin('init-cluster', 'x', '1MiB', '1')).err, /chainTableId "x" is not accepted; accepted: a non-negative integer/)
})

t.test('upload-chains and upload-chain-table from CSV; CSV errors name line, column and value', async (t) => {
  const chains = file('chains.csv', 'ChainId,TargetId,TargetId\n1,101,201\n2,102,202\n3,103,203\n')
  let r = await admin('upload-chains', chains)
  t.equal(r.code, 0, r.err)
  t.match(r.out, /ChainId\s+ChainVersion\s+Status\s+Targets\n1\s+1\s+SERVING\s+101\(SERVING\) 201\(SERVING\)/)
  t.equal((await admin('upload-chains', chains)).code, 0, 'uploading the same chains again is a no-op')
  r = await admin('upload-chains', file('bad.csv', 'ChainId,TargetId\n4,104\n5,1x5\n'))
  t.equal(r.code, 2)
  t.match(r.err, /bad\.csv:3:2: target id "1x5" is not accepted; accepted: a non-negative integer/)
  r = await admin('upload-chains', file('dup.csv', 'ChainId,TargetId\n4,104\n5,104\n'))
  t.match(r.err, /dup\.csv:3:2: target 104 already appears on line 2/)
  r = await admin('upload-chains', file('hdr.csv', 'Chain,TargetId\n4,104\n'))
  t.match(r.err, /hdr\.csv:1:1: header "Chain" is not accepted; accepted: ChainId/)
  r = await admin('upload-chains', file('conflict.csv', 'ChainId,TargetId,TargetId\n1,101,301\n'))
  t.equal(r.code, 1)
  t.match(r.err, /chain 1 exists with targets \[101,201\]; an existing chain must keep the same target set.*\[ERR_MGMTD_CHAIN_CONFLICT\]/)
  r = await admin('upload-chains', join(dir, 'missing.csv'))
  t.equal(r.code, 1)
  t.match(r.err, /missing\.csv/)

  const table = file('table.csv', 'ChainId\n1\n2\n3\n')
  r = await admin('upload-chain-table', '1', table, '--desc', 'stage')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /chain table 1 version 1: 3 chains/)
  r = await admin('upload-chain-table', '1', file('table2.csv', 'ChainId\n1\n2\n'))
  t.match(r.out, /chain table 1 version 2: 2 chains/)
  r = await admin('upload-chain-table', '1', file('table3.csv', 'ChainId\n1\n9\n'))
  t.equal(r.code, 1)
  t.match(r.err, /chain 9 of table 1 does not exist; upload it first/)
  r = await admin('upload-chain-table', 'one', table)
  t.equal(r.code, 2)
  t.match(r.err, /tableId "one" is not accepted/)
  r = await admin('upload-chain-table', '1', file('table4.csv', 'ChainId\n1\n1\n'))
  t.match(r.err, /table4\.csv:3:1: chain 1 already appears on line 2/)
  r = await admin('list-chain-tables')
  t.match(r.out, /TableId\s+Version\s+Chains\s+Desc\n1\s+2\s+2\n$/)
  r = await admin('list-chain-tables', '--all-versions', '--json')
  t.same(JSON.parse(r.out).map((x: { version: number }) => x.version), [1, 2])
})

t.test('heartbeats register nodes; the chain updater moves states; list-nodes / list-targets / list-chains show them', async (t) => {
  await heartbeat(10001, [{ targetId: 101, localState: 'UPTODATE' }, { targetId: 102, localState: 'UPTODATE' }])
  await heartbeat(10002, [{ targetId: 201, localState: 'UPTODATE' }, { targetId: 202, localState: 'ONLINE' }])
  await new Promise((r) => setTimeout(r, 500))
  let r = await admin('list-nodes')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /^NodeId\s+Type\s+Status\s+Hostname\s+LastHeartbeatMs\n1\s+MGMTD\s+PRIMARY_MGMTD/)
  t.match(r.out, /10001\s+STORAGE\s+HEARTBEAT_CONNECTED\s+storage10001/)
  r = await admin('list-targets', '--chain-id', '3')
  t.match(r.out, /103\s+3\s+LASTSRV\s+OFFLINE/, 'a chain nobody reported: its head is LASTSRV')
  t.match(r.out, /203\s+3\s+OFFLINE\s+OFFLINE/)
  t.notMatch(r.out, /^101/m)
  r = await admin('list-chains', '--json')
  const chains = JSON.parse(r.out) as { chainId: number; chainVersion: number; targets: { targetId: number; publicState: string }[] }[]
  t.same(chains.find((c) => c.chainId === 1)?.targets.map((x) => x.publicState), ['SERVING', 'SERVING'])
  t.same(chains.find((c) => c.chainId === 3)?.targets, [{ targetId: 103, publicState: 'LASTSRV' }, { targetId: 203, publicState: 'OFFLINE' }])
  t.match((await admin('list-chains')).out, /3\s+2\s+UNAVAILABLE\s+103\(LASTSRV\) 203\(OFFLINE\)/)
  t.equal((await admin('list-targets', '--chain-id', 'x')).code, 2)
  t.equal((await admin('list-nodes', 'extra')).code, 2, 'unexpected argument')
})

t.test('update-chain, rotate-lastsrv, offline-target and their refusals', async (t) => {
  let r = await admin('update-chain', '1', '301', '--mode', 'add')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /1\s+2\s+SERVING\s+101\(SERVING\) 201\(SERVING\) 301\(OFFLINE\)/)
  r = await admin('update-chain', '1', '301', '--mode', 'add')
  t.equal(r.code, 1)
  t.match(r.err, /target 301 is already in chain 1/)
  r = await admin('update-chain', '1', '101', '--mode', 'remove')
  t.equal(r.code, 1)
  t.match(r.err, /target 101 of chain 1 is SERVING; only an OFFLINE target can be removed.*\[ERR_MGMTD_BAD_CHAIN_STATE\]/)
  r = await admin('update-chain', '1', '301', '--mode', 'remove')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /1\s+3\s+SERVING\s+101\(SERVING\) 201\(SERVING\)\n/)
  t.match((await admin('update-chain', '1', '301', '--mode', 'move')).err, /--mode "move" is not accepted; accepted: add \| remove/)
  t.match((await admin('update-chain', '1', '301')).err, /--mode is missing; accepted: add \| remove/)
  t.equal((await admin('update-chain', '1', '301')).code, 2)
  t.match((await admin('update-chain', '99', '301', '--mode', 'add')).err, /chain 99 does not exist/)

  r = await admin('rotate-lastsrv', '3')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /3\s+3\s+UNAVAILABLE\s+203\(LASTSRV\) 103\(OFFLINE\)/)
  r = await admin('rotate-lastsrv', '1')
  t.equal(r.code, 1)
  t.match(r.err, /chain 1 has no LASTSRV head \(head is 101 SERVING\)/)
  t.equal((await admin('rotate-lastsrv')).code, 2)

  r = await admin('offline-target', '201')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /target 201 of chain 1 is now local OFFLINE/)
  await heartbeat(10002, [{ targetId: 201, localState: 'UPTODATE' }, { targetId: 202, localState: 'UPTODATE' }])
  await new Promise((r) => setTimeout(r, 200))
  r = await admin('list-targets', '--chain-id', '1', '--json')
  t.same((JSON.parse(r.out) as { targetId: number; publicState: string; localState: string }[]).map((x) => `${x.targetId}:${x.publicState}:${x.localState}`), ['101:SERVING:UPTODATE', '201:OFFLINE:OFFLINE'], 'stays OFFLINE through heartbeats of the same incarnation')
  t.match((await admin('offline-target', '999')).err, /target 999 is in no chain/)
  t.equal((await admin('offline-target', '999')).code, 1)
  t.equal((await admin('offline-target', 'abc')).code, 2)
  t.equal((await admin('offline-target', '--target-id', '202')).code, 0)
})

t.test('register-node, disable-node, enable-node, unregister-node: a node through its life, and the refusals', async (t) => {
  let r = await admin('register-node', '30001', 'storage', '--hostname', 'rack7')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /node 30001 is registered as STORAGE on rack7/)
  t.match((await admin('list-nodes')).out, /30001\s+STORAGE\s+\S+\s+rack7/, 'list-nodes shows it before it ever heartbeats')
  t.equal((await admin('register-node', '30001', 'STORAGE')).code, 0, 'registering again with the same type is a no-op')
  r = await admin('register-node', '30001', 'META')
  t.equal(r.code, 1)
  t.match(r.err, /node 30001 is already registered as STORAGE, not META/)
  r = await admin('register-node', '30002', 'disk')
  t.equal(r.code, 2, 'an unknown type is a usage error')
  t.match(r.err, /type "disk" is not accepted; accepted: MGMTD \| META \| STORAGE \| CLIENT \| FUSE/)
  t.equal((await admin('register-node', '0', 'STORAGE')).code, 2, 'node id 0 is refused')
  t.equal((await admin('register-node', '30002')).code, 2, 'the type is required')

  r = await admin('disable-node', '30001')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /node 30001 \(STORAGE\) is disabled/)
  await t.rejects(heartbeat(30001, []), { code: 'ERR_MGMTD_NODE_DISABLED', message: /t3fs admin enable-node 30001/ }, 'a disabled node\'s heartbeat is refused, naming the command that lifts it')
  t.match((await admin('list-nodes')).out, /30001\s+STORAGE\s+DISABLED/)
  t.equal((await admin('enable-node', '30001')).code, 0)
  await heartbeat(30001, [])
  t.match((await admin('list-nodes')).out, /30001\s+STORAGE\s+HEARTBEAT_CONNECTED/, 'heartbeats are accepted again')

  r = await admin('unregister-node', '30001')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /node 30001 \(STORAGE\) is unregistered/)
  t.notMatch((await admin('list-nodes')).out, /^30001\s/m)
  r = await admin('unregister-node', '30001')
  t.equal(r.code, 1)
  t.match(r.err, /node 30001 is not registered/)
  t.equal((await admin('disable-node', 'x')).code, 2)
})

t.test('the CLI: help, unknown command or option, unreachable mgmtd, and the real `t3fs admin` binary', async (t) => {
  let r = await admin('--help')
  t.equal(r.code, 0)
  t.match(r.out, /usage: t3fs admin .*\n[\s\S]*upload-chain-table <tableId> <chain-table.csv>/)
  r = await admin('frobnicate')
  t.equal(r.code, 2)
  t.match(r.err, /unknown command "frobnicate"; accepted: init-cluster, list-nodes/)
  r = await admin('list-chains', '--bogus')
  t.equal(r.code, 2)
  t.match(r.err, /Unknown option '--bogus'/)
  r = await admin()
  t.equal(r.code, 2)
  const out: string[] = []
  const err: string[] = []
  const code = await adminCommand(['--mgmtd', '127.0.0.1:1', '--timeout', '300', 'list-nodes'], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, deps)
  t.equal(code, 1)
  t.match(err.join(''), /nothing listens at 127\.0\.0\.1:1 \(connection refused\); is node 1 running\?/)
  r = await admin('--name', 'nobody', 'list-nodes')
  t.equal(r.code, 1)
  t.match(r.err, /node 1 has no actor named "nobody"; it has: .*mgmtd/)

  const child = spawn(process.execPath, [join(repo, 'bin/t3fs.mjs'), 'admin', '--mgmtd', address, 'list-chains', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
  const exit = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  t.equal(exit, 0, stderr)
  t.same((JSON.parse(stdout) as { chainId: number }[]).map((c) => c.chainId), [1, 2, 3], 'a separate process lists the chains over TCP')
  const bad = spawn(process.execPath, [join(repo, 'bin/t3fs.mjs'), 'admin', '--mgmtd', address, 'rotate-lastsrv', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let badErr = ''
  bad.stderr.on('data', (c: Buffer) => { badErr += c.toString() })
  t.equal(await new Promise<number | null>((resolve) => bad.on('exit', resolve)), 1, 'a refused command exits 1 from the binary')
  t.match(badErr, /t3fs admin rotate-lastsrv: chain 1 has no LASTSRV head/)
})
