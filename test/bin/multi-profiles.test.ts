/**
 * configs/multi/: the profiles of a cluster on several machines. Each one loads through the real
 * profile loader, its actors' params pass the checks each actor runs at start, and together they
 * describe one cluster: one peer table, every node listening on its own (non-loopback) address,
 * mgmtd and meta on the FoundationDB KV with a cluster file, storage targets that are exactly the
 * chains' targets with a chain's replicas on distinct nodes, and clients pointing at nodes that
 * host mgmtd and meta.
 *
 * What cannot be checked here: FoundationDB does not run on these machines, so opening the fdb
 * KV is not tried beyond the settings mgmtd and meta would be handed (the launched cluster of
 * test/bin/netns-cluster.test.ts covers the rest of the path with LMDB).
 */
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { declaredNeeds, spawnArgs } from '../../bin/actor-args.ts'
import { buildPlan } from '../../bin/plan.ts'
import { resolveFuseConfig } from '../../actors/client/fuse/config.ts'
import { resolveUsrbioParams } from '../../actors/client/usrbio/usrbio-actor.ts'
import { checkNodeKvSettings } from '../../actors/kv/node-kv.ts'
import { parseChainsCsv, parseChainTableCsv } from '../../actors/mgmtd/admin/csv.ts'
import { resolveMgmtdConfig } from '../../actors/mgmtd/config.ts'
import { resolveMetaConfig } from '../../actors/meta/config.ts'
import { resolveStorageConfig } from '../../actors/storage/config.ts'
import { loadProfile, type ActorEntry, type Profile } from '../../runtime/profile/index.ts'
import { selectTransport } from '../../runtime/transport/select-transport.ts'

const dir = fileURLToPath(new URL('../../configs/multi/', import.meta.url))
/** base.toml is included by the others (it names no node); every other .toml is one machine's node. */
const files = readdirSync(dir).filter((f) => f.endsWith('.toml') && f !== 'base.toml').sort()
const profiles = new Map<string, Profile>(files.map((f) => [f, loadProfile(join(dir, f))]))
const all = [...profiles.values()]
const address = (a: { host: string; port: number }): string => `${a.host}:${a.port}`
const withActor = (exportName: string): Profile[] => all.filter((p) => p.actors.some((a) => a.export === exportName))

/** The params an actor's own start checks, the way it reads them (the service args stripped). */
function checkParams(p: Profile, a: ActorEntry): void {
  const { server_id: _s, mgmtd_node: _m, ...metaKnobs } = a.params
  switch (a.export) {
    case 'mgmtdActor': resolveMgmtdConfig(a.params); return
    case 'metaActor': resolveMetaConfig(metaKnobs); return
    case 'storageNode': resolveStorageConfig(a.params); return
    case 'fuseMount': resolveFuseConfig(a.params); return
    case 'usrbioActor': resolveUsrbioParams(a.params, p.node.id); return
    case 'fuseQueue':
      if (!p.actors.some((m) => m.export === 'fuseMount' && m.name === (a.params.mount ?? 'fuse'))) throw new Error(`${a.name}: no fuseMount named ${String(a.params.mount)}`)
      return
    default: throw new Error(`no check for actor ${a.export} in this test; add one`)
  }
}

t.test('every profile of configs/multi loads, plans and hands its actors params they accept', async (t) => {
  t.same(files, ['client.toml', 'meta1.toml', 'meta2.toml', 'mgmtd.toml', 'storage1.toml', 'storage2.toml', 'storage3.toml'])
  for (const [file, p] of profiles) {
    t.same(p.files.map((f) => f.slice(dir.length)), ['base.toml', file], `${file} includes base.toml`)
    buildPlan(p, selectTransport(p.transport.kind))
    for (const a of p.actors) {
      const args = spawnArgs(p, a, await declaredNeeds(a))
      checkParams(p, a)
      if (args.nodeListen !== undefined) t.equal(args.nodeListen, address(p.listen.tcp), `${file}: ${a.name} reports the node's own address`)
      if (a.export === 'metaActor' || a.export === 'storageNode') t.type(args.nodeListen, 'string', `${file}: ${a.name} is handed the endpoint it heartbeats to mgmtd`)
    }
  }
})

t.test('one cluster: one peer table, each node on its own address, no loopback', async (t) => {
  const ids = all.map((p) => p.node.id)
  t.equal(new Set(ids).size, ids.length, 'node ids are unique')
  t.equal(new Set(all.map((p) => p.node.clusterId)).size, 1, 'one cluster id')
  const peers = new Map(all[0].peers.map((e) => [e.node, address(e.address)]))
  for (const p of all) {
    t.same(new Map(p.peers.map((e) => [e.node, address(e.address)])), peers, `${p.file}: the shared peer table`)
    t.notMatch(p.listen.tcp.host, /^(127\.|0\.0\.0\.0$|::1?$|localhost$)/, `node ${p.node.id} listens on a routable address (${address(p.listen.tcp)})`)
    if (p.actors.some((a) => a.export !== 'fuseMount' && a.export !== 'fuseQueue' && a.export !== 'usrbioActor')) {
      t.equal(peers.get(p.node.id), address(p.listen.tcp), `server node ${p.node.id} is in the peer table at its listen address`)
    }
  }
  t.equal(new Set(all.map((p) => p.listen.tcp.host)).size, all.length, 'one machine (address) per node')
})

t.test('mgmtd and meta use FoundationDB through its cluster file; storage and clients need no KV', async (t) => {
  for (const p of [...withActor('mgmtdActor'), ...withActor('metaActor')]) {
    t.equal(p.kv.backend, 'fdb', `${p.file}: kv.backend`)
    t.equal(p.kv.clusterFile, '/etc/foundationdb/fdb.cluster', `${p.file}: kv.cluster_file`)
    for (const a of p.actors.filter((x) => x.export === 'mgmtdActor' || x.export === 'metaActor')) {
      const args = spawnArgs(p, a, await declaredNeeds(a))
      t.same(checkNodeKvSettings(args.nodeKv), { backend: 'fdb', path: p.kv.path, clusterFile: '/etc/foundationdb/fdb.cluster' }, `${a.name} on node ${p.node.id} is handed the fdb settings`)
    }
  }
  for (const p of all.filter((x) => !withActor('mgmtdActor').includes(x) && !withActor('metaActor').includes(x))) {
    for (const a of p.actors) t.notOk((await declaredNeeds(a)).includes('kv'), `${p.file}: ${a.name} opens no KV`)
  }
})

t.test('storage targets are exactly the chains\' targets, a chain\'s replicas on distinct nodes; bootstrap sets it up', async (t) => {
  const [mgmtd] = withActor('mgmtdActor')
  t.ok(mgmtd.bootstrap, 'mgmtd.toml bootstraps the cluster')
  const chains = parseChainsCsv(readFileSync(mgmtd.bootstrap!.chains, 'utf8'))
  const table = parseChainTableCsv(readFileSync(mgmtd.bootstrap!.chainTable, 'utf8'))
  t.same([...table].sort(), chains.map((c) => c.chainId).sort(), 'the chain table lists every chain')
  const nodeOfTarget = new Map<number, number>()
  for (const p of withActor('storageNode')) {
    t.ok(p.disk, `${p.file} has a disk`)
    const s = resolveStorageConfig(p.actors.find((a) => a.export === 'storageNode')!.params)
    t.same(s.mgmtdNodes, [mgmtd.node.id], `${p.file}: heartbeats to mgmtd's node`)
    t.ok(s.serveLeaseMs < resolveMgmtdConfig(mgmtd.actors.find((a) => a.export === 'mgmtdActor')!.params).heartbeatFailIntervalMs, `${p.file}: serve_lease below mgmtd's heartbeat_fail_interval`)
    for (const target of s.targets) nodeOfTarget.set(target, p.node.id)
  }
  t.same([...nodeOfTarget.keys()].sort(), chains.flatMap((c) => c.targets).sort(), 'every chain target is on a storage node, and no other')
  for (const c of chains) {
    t.equal(c.targets.length, 3, `chain ${c.chainId} has three replicas`)
    t.equal(new Set(c.targets.map((x) => nodeOfTarget.get(x))).size, c.targets.length, `chain ${c.chainId}: replicas on distinct nodes`)
  }
})

t.test('clients and meta point at the nodes that host mgmtd and meta', async (t) => {
  const mgmtdNode = withActor('mgmtdActor')[0].node.id
  const metaNodes = withActor('metaActor').map((p) => p.node.id).sort()
  t.equal(metaNodes.length, 2, 'two meta machines')
  for (const p of withActor('metaActor')) t.equal(p.actors.find((a) => a.export === 'metaActor')!.params.mgmtd_node, mgmtdNode, `${p.file}: mgmtd_node`)
  const [client] = withActor('fuseMount')
  const fuse = resolveFuseConfig(client.actors.find((a) => a.export === 'fuseMount')!.params)
  t.equal(fuse.mgmtdNode, mgmtdNode, 'the mount finds mgmtd')
  t.equal(fuse.metaNodes, null, 'the mount follows the META nodes of the routing info (no meta_nodes pinned)')
  const usrbio = resolveUsrbioParams(client.actors.find((a) => a.export === 'usrbioActor')!.params, client.node.id)
  t.equal(usrbio.mgmtdNode, mgmtdNode)
  t.equal(usrbio.metaNodes, null, 'so does USRBIO')
  const peerIds = new Set(client.peers.map((e) => e.node))
  t.ok([mgmtdNode, ...metaNodes].every((n) => peerIds.has(n)), 'the client node can dial mgmtd and meta (peer table)')
})
