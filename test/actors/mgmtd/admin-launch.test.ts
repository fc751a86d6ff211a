import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { adminCommand } from '../../../actors/mgmtd/admin/cli.ts'
import type { MgmtdMsg } from '../../../actors/mgmtd/protocol.ts'
import { connectToNode } from '../../../runtime/node-client.ts'
import { freePort } from '../../support/free-port.ts'

const repo = fileURLToPath(new URL('../../../', import.meta.url))
const bin = join(repo, 'bin/t3fs.mjs')
const dir = mkdtempSync(join(tmpdir(), 't3fs-admin-launch-'))


function run(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out, err })))
}

/** `t3fs launch profile`, killed when `t` ends; resolves to its log once the node started. */
async function launchNode(t: { teardown(fn: () => void): void }, profile: string): Promise<string> {
  const node: ChildProcess = spawn(process.execPath, [bin, 'launch', profile], { stdio: ['ignore', 'ignore', 'pipe'] })
  t.teardown(() => { node.kill('SIGKILL') })
  let log = ''
  return new Promise<string>((resolve, reject) => {
    node.stderr!.on('data', (c: Buffer) => { log += c.toString(); if (log.includes('"evt":"NodeStarted"')) resolve(log) })
    node.on('exit', (code) => reject(new Error(`the node exited (${code}) before it started: ${log}`)))
  })
}

const mgmtdProfile = (port: number, params: string[]): string => [
  '[node]', 'id = 4', `root = ${JSON.stringify(dir)}`, '[listen]', `tcp = "127.0.0.1:${port}"`, '[placement]', 'hosts_per_domain = 1',
  '[kv]', 'backend = "lmdb"', 'path = "var/node-kv"', '[shutdown]', 'grace_period = "1s"',
  '[[actors]]', 'name = "mgmtd"', `module = "${join(repo, 'actors/mgmtd/mgmtd-actor.ts')}"`, 'export = "mgmtdActor"', 'host = 1',
  '[actors.params]', ...params, '',
].join('\n')

t.test('a profile that still gives mgmtd kv_backend / kv_path params fails the launch, naming [kv]', async (t) => {
  const profile = join(dir, 'old-params.toml')
  writeFileSync(profile, mgmtdProfile(await freePort(), ['kv_backend = "lmdb"', 'kv_path = "var/mgmtd-kv"']))
  const r = await run(['launch', profile])
  t.equal(r.code, 1, 'the launch fails')
  t.match(r.err, /actors\.params\.kv_backend of actor mgmtd is "lmdb"; accepted: no such param — .*the profile's \[kv\] section/)
  t.notOk(existsSync(join(dir, 'var/mgmtd-kv')), 'no KV was opened at the old path')
})

t.test('`t3fs admin` against a node started by `t3fs launch` with mgmtd in its profile', async (t) => {
  const port = await freePort()
  const profile = join(dir, 'mgmtd.toml')
  writeFileSync(profile, mgmtdProfile(port, ['lease_length = "10s"', 'extend_lease_interval = "2s"', 'new_chain_bootstrap_interval = "2s"']))
  const log = await launchNode(t, profile)
  t.notMatch(log, /ActorFailed/, 'mgmtd starts from the profile params')
  const admin = (...args: string[]) => run(['admin', '--mgmtd', `127.0.0.1:${port}`, '--node', '4', '--timeout', '3000', ...args])
  // Every failure here is a failure: the node, its transport and mgmtd are all this repository's.
  const probe = await admin('list-nodes')
  t.equal(probe.code, 0, `admin reaches the launched mgmtd: ${probe.err}`)
  if (probe.code !== 0) return
  t.match(probe.out, /4\s+MGMTD\s+PRIMARY_MGMTD/)
  t.ok(existsSync(join(dir, 'var/node-kv/data.mdb')), 'mgmtd keeps its state in the profile\'s [kv]: lmdb at node.root/var/node-kv')

  // Every command, in this process through the CLI's own connect path (connectToNode over TCP).
  const io = () => {
    const out: string[] = []
    const err: string[] = []
    return { out, err, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } } }
  }
  const cli = async (...args: string[]) => {
    const x = io()
    const code = await adminCommand(['--mgmtd', `127.0.0.1:${port}`, '--node', '4', '--timeout', '3000', ...args], x.io)
    return { code, out: x.out.join(''), err: x.err.join('') }
  }
  const expectOk = async (args: string[], pattern: RegExp) => {
    const r = await cli(...args)
    t.equal(r.code, 0, `${args[0]} exits 0 ${r.err}`)
    t.match(r.out, pattern, `${args.join(' ')} prints what it did`)
  }
  const expectFail = async (args: string[], code: number, pattern: RegExp) => {
    const r = await cli(...args)
    t.equal(r.code, code, `${args.join(' ')} exits ${code}`)
    t.match(r.err, pattern)
  }
  const chains = join(dir, 'chains.csv')
  writeFileSync(chains, 'ChainId,TargetId,TargetId\n1,101,201\n2,102,202\n')
  const table = join(dir, 'table.csv')
  writeFileSync(table, 'ChainId\n1\n2\n')
  const badCsv = join(dir, 'bad.csv')
  writeFileSync(badCsv, 'ChainId,TargetId\n3,abc\n')

  await expectOk(['init-cluster', '1', '1MiB', '16'], /cluster t3fs initialized/)
  await expectFail(['init-cluster', '1', '1MiB'], 2, /takes 3 arguments, got 2/)
  await expectOk(['upload-chains', chains], /1\s+1\s+SERVING\s+101\(SERVING\) 201\(SERVING\)/)
  await expectFail(['upload-chains', badCsv], 2, /bad\.csv:2:2: target id "abc" is not accepted/)
  await expectOk(['upload-chain-table', '1', table, '--desc', 'stage'], /chain table 1 version 1: 2 chains/)
  await expectFail(['upload-chain-table', '1'], 2, /takes 2 arguments, got 1/)
  await expectOk(['list-chain-tables'], /1\s+1\s+2\s+stage/)
  await expectFail(['list-chain-tables', '--nope'], 2, /Unknown option '--nope'/)

  const client = await connectToNode({ address: `127.0.0.1:${port}`, node: 4, clientNode: 63001 })
  t.teardown(() => client.close())
  const mgmtd = await client.lookup<MgmtdMsg>('mgmtd')
  await mgmtd.ask({ type: 'heartbeat', info: { nodeId: 10001, type: 'STORAGE', hostname: 'storage1', incarnation: 1, hbVersion: 1, timestampMs: Date.now(), targets: [{ targetId: 101, localState: 'UPTODATE' }, { targetId: 201, localState: 'UPTODATE' }] } })
  // The new-born freeze is 2 s in this profile; then chain 2, with no heartbeats, turns LASTSRV.
  // Wait for that state (bounded), not for a guessed time.
  const chain2Down = /\n2\s+2\s+UNAVAILABLE/
  for (let i = 0; i < 100 && !chain2Down.test((await cli('list-chains')).out); i++) await new Promise((r) => setTimeout(r, 200))
  await expectOk(['list-nodes'], /10001\s+STORAGE\s+HEARTBEAT_CONNECTED\s+storage1/)
  await expectFail(['list-nodes', 'x'], 2, /takes 0 arguments, got 1/)
  await expectOk(['list-targets', '--chain-id', '2'], /102\s+2\s+LASTSRV\s+OFFLINE/)
  await expectFail(['list-targets', '--chain-id', 'two'], 2, /--chain-id "two" is not accepted/)
  await expectOk(['list-chains'], /1\s+1\s+SERVING\s+101\(SERVING\) 201\(SERVING\)\n2\s+2\s+UNAVAILABLE\s+102\(LASTSRV\) 202\(OFFLINE\)/)
  await expectFail(['list-chains', 'extra'], 2, /takes 0 arguments/)
  await expectOk(['update-chain', '1', '301', '--mode', 'add'], /1\s+2\s+SERVING\s+101\(SERVING\) 201\(SERVING\) 301\(OFFLINE\)/)
  await expectFail(['update-chain', '1', '101', '--mode', 'remove'], 1, /only an OFFLINE target can be removed/)
  await expectOk(['rotate-lastsrv', '2'], /2\s+3\s+UNAVAILABLE\s+202\(LASTSRV\) 102\(OFFLINE\)/)
  await expectFail(['rotate-lastsrv', '1'], 1, /chain 1 has no LASTSRV head/)
  await expectOk(['offline-target', '201'], /target 201 of chain 1 is now local OFFLINE/)
  await expectFail(['offline-target', '4040'], 1, /target 4040 is in no chain/)

  // And the real binary, as a shell user runs it.
  const listed = await admin('list-chains', '--json')
  t.equal(listed.code, 0, listed.err)
  t.same(JSON.parse(listed.out).map((c: { chainId: number }) => c.chainId), [1, 2])
  const bad = await admin('update-chain', '1', '101')
  t.equal(bad.code, 2)
  t.match(bad.err, /--mode is missing; accepted: add \| remove/)
})

t.test('a cluster whose id is not "t3fs": admin and status say it with --cluster-id or $T3FS_CLUSTER_ID, and name the id when they do not', async (t) => {
  const port = await freePort()
  const profile = join(dir, 'ops-east.toml')
  writeFileSync(profile, mgmtdProfile(port, []).replace('[node]\n', '[node]\ncluster_id = "ops-east"\n').replace('var/node-kv', 'var/ops-east-kv'))
  await launchNode(t, profile)
  const at = ['--mgmtd', `127.0.0.1:${port}`, '--node', '4', '--timeout', '3000']
  const refused = await run(['admin', ...at, 'list-nodes'])
  t.equal(refused.code, 1, 'a client of cluster "t3fs" is refused')
  t.match(refused.err, /node 4 at 127\.0\.0\.1:\d+ refused this client: cluster "t3fs"; accepted: "ops-east".*--cluster-id or \$T3FS_CLUSTER_ID/, 'at once, with the id to give')
  const listed = await run(['admin', ...at, '--cluster-id', 'ops-east', 'list-nodes'])
  t.equal(listed.code, 0, listed.err)
  t.match(listed.out, /4\s+MGMTD\s+PRIMARY_MGMTD/, '--cluster-id reaches it')
  const fromEnv = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn(process.execPath, [bin, 'status', ...at.filter((a) => a !== '--timeout' && a !== '3000'), '--json'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, T3FS_CLUSTER_ID: 'ops-east' } })
    let out = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.on('exit', (code) => resolve({ code, out }))
  })
  t.equal(fromEnv.code, 0, 't3fs status with $T3FS_CLUSTER_ID')
  t.same((JSON.parse(fromEnv.out) as { routing: { nodes: { nodeId: number }[] } }).routing.nodes.map((n) => n.nodeId), [4], 'shows the cluster\'s nodes')
  const statusRefused = await run(['status', ...at])
  t.equal(statusRefused.code, 1)
  t.match(statusRefused.err, /refused this client: cluster "t3fs"; accepted: "ops-east"/, 't3fs status names the id too')
  t.notMatch(statusRefused.err, /did not answer|is the cluster running/, 'and does not say the node is down')
  const bad = await run(['admin', ...at, '--cluster-id', 'ops east', 'list-nodes'])
  t.equal(bad.code, 2, 'a malformed id is a usage error')
  t.match(bad.err, /--cluster-id "ops east" is not accepted; accepted: 1 to 64 letters, digits/)
})
