/** What `t3fs launch` hands each profile actor: its params, plus the node's [kv] when it declares needs: ['kv']. */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { declaredNeeds, spawnArgs } from '../../bin/actor-args.ts'
import { bootstrapLayout } from '../../bin/cluster.ts'
import { isT3fsError } from '../../runtime/errors.ts'
import { loadProfile, parseProfile, type Profile } from '../../runtime/profile/index.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 't3fs-actor-args-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

const profileWith = (kv: string, actors: string): Profile => parseProfile(
  `[node]\nid = 3\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n[kv]\n${kv}\n${actors}`,
  join(dir, 'node.toml'),
)
const actor = (name: string, exportName: string, module: string, params = '') =>
  `[[actors]]\nname = "${name}"\nmodule = "${module}"\nexport = "${exportName}"\n[actors.params]\n${params}\n`

t.test('an actor that declares needs: [\'kv\'] gets the profile\'s [kv], path resolved against node.root', async (t) => {
  const p = profileWith('backend = "lmdb"\npath = "var/some-kv"', actor('m', 'mgmtdActor', 'actors/mgmtd/mgmtd-actor.ts', 'lease_length = "30s"'))
  const [m] = p.actors
  const needs = await declaredNeeds(m)
  t.same(needs, ['kv'])
  t.same(spawnArgs(p, m, needs), { lease_length: '30s', nodeKv: { backend: 'lmdb', path: join(repo, 'var/some-kv') } })
  const fdb = profileWith('backend = "fdb"\ncluster_file = "etc/fdb.cluster"', actor('m', 'mgmtdActor', 'actors/mgmtd/mgmtd-actor.ts'))
  t.same(spawnArgs(fdb, fdb.actors[0], needs).nodeKv, { backend: 'fdb', path: join(repo, 'var/kv'), clusterFile: join(repo, 'etc/fdb.cluster') })
})

t.test('configs/dev.toml: mgmtd gets the node\'s lmdb under var/dev and no KV params of its own', async (t) => {
  const p = loadProfile(join(repo, 'configs/dev.toml'))
  const m = p.actors.find((a) => a.name === 'mgmtd')!
  const args = spawnArgs(p, m, await declaredNeeds(m))
  t.same(args.nodeKv, { backend: 'lmdb', path: join(repo, 'var/dev/kv') })
  t.same(Object.keys(args).filter((k) => k !== 'nodeKv' && /kv/i.test(k)), [], 'no KV params of its own')
  t.same(Object.fromEntries(Object.entries(args).filter(([k]) => k !== 'nodeKv')), m.params, 'its own params as the profile gives them')
})

t.test('an actor that declares nothing gets exactly its params', async (t) => {
  const p = profileWith('backend = "lmdb"', actor('h', 'hello', 'test/bin/fixtures/hello-actor.ts', 'greeting = "hi"\nkv_path = "its own business"'))
  const [h] = p.actors
  const needs = await declaredNeeds(h)
  t.same(needs, [])
  t.same(spawnArgs(p, h, needs), { greeting: 'hi', kv_path: 'its own business' })
})

t.test('a param may neither shadow nor configure a service the actor needs', async (t) => {
  for (const param of ['nodeKv = "x"', 'kv_backend = "memory"', 'kv_path = "var/old"', 'kvPath = "var/old"', 'kv = 1']) {
    const p = profileWith('backend = "memory"', actor('k', 'needsKv', 'test/bin/fixtures/needs-actor.ts', param))
    const key = param.split(' ')[0]
    const error = (() => { try { spawnArgs(p, p.actors[0], ['kv']) } catch (e) { return e } })()
    t.ok(isT3fsError(error, 'ERR_PROFILE'), `${key} is refused`)
    t.match((error as Error).message, new RegExp(`actors\\.params\\.${key} of actor k is .*; accepted: no such param — the actor's KV is the node's, set in the profile's \\[kv\\] section`))
  }
})

t.test('an unknown declared need, or an export that is no definition, is a clear error', async (t) => {
  const p = profileWith('backend = "memory"', actor('g', 'needsGpu', 'test/bin/fixtures/needs-actor.ts') + actor('x', 'NoSuchExport', 'test/bin/fixtures/needs-actor.ts'))
  await t.rejects(declaredNeeds(p.actors[0]), { code: 'ERR_PROFILE', message: /actor g: its definition needsGpu declares needs \["gpu"\]; accepted: a list of "kv"/ })
  await t.rejects(declaredNeeds(p.actors[1]), { code: 'ERR_DEFINITION_NOT_FOUND', message: /needs-actor\.ts has no actor definition exported as "NoSuchExport"/ }, 'the worker host\'s own loader says it')
})

t.test('a node whose actor reports its address (needs: [\'listen\']) may not listen on a wildcard: clients would dial themselves', async (t) => {
  const storage = actor('storage', 'storageNode', 'actors/storage/storage-node.ts', 'mgmtd_nodes = [1]')
  const at = (listen: string): Profile => parseProfile(`[node]\nid = 10001\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "${listen}"\n${storage}`, join(dir, 'storage.toml'))
  const needs = await declaredNeeds(at('10.0.0.21:9000').actors[0])
  t.same(needs, ['listen'])
  t.equal(spawnArgs(at('10.0.0.21:9000'), at('10.0.0.21:9000').actors[0], needs).nodeListen, '10.0.0.21:9000', 'its own address is reported as it is')
  for (const wildcard of ['0.0.0.0:9000', '[::]:9000']) {
    const p = at(wildcard)
    const error = (() => { try { spawnArgs(p, p.actors[0], needs) } catch (e) { return e } })()
    t.ok(isT3fsError(error, 'ERR_PROFILE'), `${wildcard} is refused`)
    t.match((error as Error).message, /listen\.tcp of .*storage\.toml is ".*:9000"; accepted: this machine's own address on the cluster network .*actor storage reports it to mgmtd/)
  }
  const mgmtd = parseProfile(`[node]\nid = 1\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "0.0.0.0:9000"\n[kv]\nbackend = "memory"\n${actor('mgmtd', 'mgmtdActor', 'actors/mgmtd/mgmtd-actor.ts')}`, join(dir, 'mgmtd.toml'))
  t.ok(spawnArgs(mgmtd, mgmtd.actors[0], await declaredNeeds(mgmtd.actors[0])).nodeKv, 'a node whose actors report no address may listen on every interface')
})

t.test('configs/dev.toml: meta gets [bootstrap]\'s layout (chunk_size, a stripe over every chain of the table); a node without [bootstrap] hands none', async (t) => {
  const p = loadProfile(join(repo, 'configs/dev.toml'))
  const layout = await bootstrapLayout(p)
  t.same(layout, { tableId: 1, tableVersion: 0, chunkSizeBytes: 1024 * 1024, stripeSize: 4, chains: { kind: 'empty' } }, 'the four chains of configs/dev/chain-table.csv')
  for (const name of ['meta', 'meta2']) {
    const m = p.actors.find((a) => a.name === name)!
    const needs = await declaredNeeds(m)
    t.ok(needs.includes('layout'), `${name} declares it`)
    t.same(spawnArgs(p, m, needs, layout).clusterLayout, layout, `${name} receives it`)
  }
  const mgmtd = p.actors.find((a) => a.name === 'mgmtd')!
  t.equal(spawnArgs(p, mgmtd, await declaredNeeds(mgmtd), layout).clusterLayout, undefined, 'an actor that does not declare it gets none')
  const bare = profileWith('backend = "memory"', actor('meta', 'metaActor', 'actors/meta/meta-actor.ts', 'server_id = 100'))
  t.equal(await bootstrapLayout(bare), null, 'no [bootstrap], no layout')
  t.equal(spawnArgs(bare, bare.actors[0], await declaredNeeds(bare.actors[0]), null).clusterLayout, undefined, 'and meta keeps its root_layout knob')
  const striped = parseProfile(`[node]\nid = 1\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n[kv]\nbackend = "memory"\n[bootstrap]\nchains = "configs/dev/chains.csv"\nchain_table = "configs/dev/chain-table.csv"\nchunk_size = "4MiB"\nstripe_size = 2\n`, join(repo, 'node.toml'))
  t.same(await bootstrapLayout(striped), { tableId: 1, tableVersion: 0, chunkSizeBytes: 4 * 1024 * 1024, stripeSize: 2, chains: { kind: 'empty' } }, 'chunk_size and stripe_size as set')
  const error = (() => { try { parseProfile(`[node]\nid = 1\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n[bootstrap]\nchains = "a.csv"\nchain_table = "b.csv"\nchunk_size = "3MiB"\n`, join(repo, 'node.toml')) } catch (e) { return e } })()
  t.ok(isT3fsError(error, 'ERR_PROFILE'), 'a chunk size that is no power of 2 fails the profile, before meta or init-cluster would refuse it')
  t.match((error as Error).message, /bootstrap\.chunk_size is 3145728 bytes, not a power of 2; accepted: a power of 2 from 64KiB to 64MiB/)
})

t.test('the FUSE mount gets node.cluster_id (its name in /proc/mounts); a cluster_id param of its own is refused, naming node.cluster_id', async (t) => {
  const p = loadProfile(join(repo, 'configs/dev.toml'))
  const fuse = p.actors.find((a) => a.name === 'fuse')!
  const needs = await declaredNeeds(fuse)
  t.ok(needs.includes('cluster'), 'the mount declares it')
  t.equal(spawnArgs(p, fuse, needs).nodeClusterId, 't3fs', 'configs/base.toml\'s cluster_id')
  const other = parseProfile(`[node]\nid = 1\ncluster_id = "ops-east"\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n${actor('fuse', 'fuseMount', 'actors/client/fuse/mount-actor.ts', 'mount_point = "mnt"')}`, join(repo, 'node.toml'))
  t.equal(spawnArgs(other, other.actors[0], needs).nodeClusterId, 'ops-east', 'another cluster\'s id')
  const named = parseProfile(`[node]\nid = 1\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n${actor('fuse', 'fuseMount', 'actors/client/fuse/mount-actor.ts', 'mount_point = "mnt"\ncluster_id = "elsewhere"')}`, join(repo, 'node.toml'))
  const error = (() => { try { spawnArgs(named, named.actors[0], needs) } catch (e) { return e } })()
  t.ok(isT3fsError(error, 'ERR_PROFILE'), 'a mount named after another cluster is refused')
  t.match((error as Error).message, /actors\.params\.cluster_id of actor fuse is "elsewhere"; accepted: no such param — the actor's CLUSTER is the node's, set in node\.cluster_id \(handed over as nodeClusterId\)/)
})
