import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { adminCommand, type AdminDeps } from '../../../actors/mgmtd/admin/cli.ts'
import type { MgmtdMsg } from '../../../actors/mgmtd/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { NodeRuntime } from '../../../runtime/node-runtime.ts'
import { connectToNode } from '../../../runtime/node-client.ts'
import { TcpTransport } from '../../../runtime/transport/tcp-transport.ts'

const dir = mkdtempSync(join(tmpdir(), 't3fs-mgmtd-pair-'))
const mgmtdModule = new URL('../../../actors/mgmtd/mgmtd-actor.ts', import.meta.url).href
const leaseMs = 2_000

t.test('two mgmtds on one LMDB KV in two worker threads: admin follows the standby to the primary; killing the primary hands over within the lease', async (t) => {
  const transport = new TcpTransport({ nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, heartbeatIntervalMs: 100, heartbeatTimeoutMs: 2_000 })
  const node = await NodeRuntime.start({ node: 1, hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }], transport })
  t.teardown(() => node.shutdown())
  const params = (nodeId: number) => ({ node_id: nodeId, nodeKv: { backend: 'lmdb', path: join(dir, 'kv') }, lease_length: `${leaseMs}ms`, extend_lease_interval: '200ms' })
  const refs: Record<string, ActorRef<MgmtdMsg>> = {
    'mgmtd-a': await node.spawn<MgmtdMsg>({ module: mgmtdModule, export: 'mgmtdActor' }, params(1), { host: 1, name: 'mgmtd-a' }),
    'mgmtd-b': await node.spawn<MgmtdMsg>({ module: mgmtdModule, export: 'mgmtdActor' }, params(2), { host: 2, name: 'mgmtd-b' }),
  }
  const primaryName = async (): Promise<string | null> => {
    for (const [name, ref] of Object.entries(refs)) if ((await ref.ask({ type: 'status' }).catch(() => null))?.primary) return name
    return null
  }
  let primary: string | null = null
  for (let i = 0; i < 200 && primary === null; i++) {
    primary = await primaryName()
    if (primary === null) await new Promise((r) => setTimeout(r, 20))
  }
  if (primary === null) throw new Error('no primary elected')
  const standby = primary === 'mgmtd-a' ? 'mgmtd-b' : 'mgmtd-a'
  t.equal((await Promise.all(Object.values(refs).map((r) => r.ask({ type: 'status' })))).filter((s) => s.primary).length, 1, 'one primary')

  let clientNode = 62000
  const deps: AdminDeps = {
    async connect(target) {
      const client = await connectToNode({ address: target.address, node: target.node, clientNode: clientNode++, connectTimeoutMs: target.timeoutMs })
      return { mgmtd: await client.lookup<MgmtdMsg>(target.name), refFor: (a) => client.system.refFor<MgmtdMsg>(a), close: () => client.close() }
    },
    readFile: (path) => readFile(path, 'utf8'),
  }
  const admin = async (name: string, ...args: string[]) => {
    const out: string[] = []
    const err: string[] = []
    const code = await adminCommand(['--mgmtd', `127.0.0.1:${transport.port}`, '--name', name, ...args], { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, deps)
    return { code, out: out.join(''), err: err.join('') }
  }
  const csv = join(dir, 'chains.csv')
  writeFileSync(csv, 'ChainId,TargetId,TargetId\n1,101,201\n2,102,202\n')
  let r = await admin(standby, 'upload-chains', csv)
  t.equal(r.code, 0, `asked through the standby (${standby}), done by the primary: ${r.err}`)
  await t.rejects(refs[standby].ask({ type: 'list-client-sessions' }), { code: 'ERR_MGMTD_NOT_PRIMARY', details: { primaryNodeId: primary === 'mgmtd-a' ? 1 : 2 } }, 'the standby itself refuses, naming the primary')

  const killedAt = Date.now()
  await node.stop(refs[primary])
  let tookOverMs = -1
  while (tookOverMs < 0 && Date.now() - killedAt < leaseMs * 3) {
    if ((await refs[standby].ask({ type: 'status' })).primary) tookOverMs = Date.now() - killedAt
    else await new Promise((r) => setTimeout(r, 20))
  }
  t.ok(tookOverMs > 0 && tookOverMs <= leaseMs + 500, `the standby took over ${tookOverMs} ms after the primary stopped (lease ${leaseMs} ms)`)
  r = await admin(standby, 'list-chains', '--json')
  t.equal(r.code, 0, r.err)
  t.same(JSON.parse(r.out).map((c: { chainId: number }) => c.chainId), [1, 2], 'the new primary has the chains from the LMDB KV')
})
