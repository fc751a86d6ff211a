import t from 'tap'
import fc from 'fast-check'
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadProfile, parseProfile, parseDurationMs, parseSizeBytes } from '../../../runtime/profile/index.ts'
import { isT3fsError, T3fsError } from '../../../runtime/errors.ts'

const repo = fileURLToPath(new URL('../../../', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 't3fs-profile-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function write(name: string, text: string): string {
  const file = join(dir, name)
  writeFileSync(file, text)
  return file
}

const MINIMAL = `[node]\nid = 7\n[listen]\ntcp = "127.0.0.1:9100"\n`

function profileErrorOf(fn: () => unknown): T3fsError {
  try {
    fn()
  } catch (error) {
    if (isT3fsError(error, 'ERR_PROFILE')) return error
    throw error
  }
  throw new Error('expected ERR_PROFILE, nothing was thrown')
}

t.test('configs/dev.toml loads with its base file', async (t) => {
  const p = loadProfile(join(repo, 'configs/dev.toml'))
  t.equal(p.node.id, 1)
  t.equal(p.node.clusterId, 't3fs')
  t.equal(p.node.root, repo.replace(/\/$/, ''))
  t.same(p.listen.tcp, { host: '127.0.0.1', port: 9000 })
  t.equal(p.kv.backend, 'lmdb')
  t.equal(p.kv.path, join(repo, 'var/dev/kv'))
  t.equal(p.placement.hostsPerDomain, 2)
  // Whatever actors dev.toml lists resolve under the repository root and run on its hosts (0: the main thread).
  for (const a of p.actors) {
    t.ok(a.module.startsWith(repo), `${a.name}: module under the repository`)
    t.ok(a.host >= 0 && a.host <= 2, `${a.name}: on the main thread or a worker host`)
  }
  t.equal(p.files.length, 2)
  t.equal(p.transport.heartbeatTimeoutMs, 5000)
  const mgmtd = p.actors.find((a) => a.name === 'mgmtd')
  t.ok(mgmtd, 'dev.toml runs mgmtd')
  t.notOk(Object.keys(mgmtd?.params ?? {}).some((k) => /^kv/i.test(k)), 'mgmtd takes no KV params: its KV is the profile\'s [kv]')
})

t.test('defaults fill every section of a minimal profile', async (t) => {
  const p = parseProfile(MINIMAL, join(dir, 'min.toml'))
  t.equal(p.node.id, 7)
  t.equal(p.kv.backend, 'lmdb')
  t.same(p.placement.numaDomains, [0])
  t.equal(p.transport.kind, 'auto')
  t.equal(p.transport.maxFrameBytes, 65 * 1024 * 1024, "a 64 MiB chunk and room for its envelopes")
  t.equal(p.log.level, 'info')
  t.equal(p.kv.path, join(dir, 'var/kv'))
})

t.test('the buffer pool and the disk: absent by default, resolved when set, refused when malformed', async (t) => {
  const plain = parseProfile(MINIMAL, join(dir, 'min.toml'))
  t.same(plain.bufferPool, [], 'no classes: the runtime\'s defaults')
  t.equal(plain.disk, null, 'no disk unless the profile names one')
  const set = parseProfile(`${MINIMAL}[disk]\nroot = "var/data"\n[[buffer_pool]]\nslot_size = "64KiB"\nslots = 128\n[[buffer_pool]]\nslot_size = "1MiB"\nslots = 64\n`, join(dir, 'pool.toml'))
  t.same(set.bufferPool, [{ slotBytes: 65536, slots: 128 }, { slotBytes: 1048576, slots: 64 }])
  t.same(set.disk, { root: join(dir, 'var/data') })
  const cases: [string, string, RegExp][] = [
    ['a slot size that is not a multiple of 4KiB', '[[buffer_pool]]\nslot_size = "6000B"\nslots = 1\n', /buffer_pool\[0\]\.slot_size/],
    ['classes that do not grow', '[[buffer_pool]]\nslot_size = "1MiB"\nslots = 1\n[[buffer_pool]]\nslot_size = "64KiB"\nslots = 1\n', /buffer_pool\[1\]\.slot_size/],
    ['a pool beyond the bound', '[[buffer_pool]]\nslot_size = "1GiB"\nslots = 100\n', /buffer_pool\[0\]\.slots/],
    ['zero slots', '[[buffer_pool]]\nslot_size = "64KiB"\nslots = 0\n', /buffer_pool\[0\]\.slots/],
  ]
  for (const [what, extra, key] of cases) {
    const file = write('pool-bad.toml', MINIMAL + extra)
    const error = profileErrorOf(() => loadProfile(file))
    t.match(error.details.key, key, `${what}: names the key`)
    t.type(error.details.accepted, 'string', `${what}: says what is accepted`)
  }
})

t.test('an included base is overridden key by key; arrays replace', async (t) => {
  write('base.toml', `[node]\ncluster_id = "c1"\nroot = "."\n[transport]\nheartbeat_interval = "100ms"\nheartbeat_timeout = "1s"\n[[peers]]\nnode = 1\naddress = "127.0.0.1:1"\n[[peers]]\nnode = 2\naddress = "127.0.0.1:2"\n`)
  const file = write('node.toml', `include = "base.toml"\n${MINIMAL}[transport]\nheartbeat_timeout = "2s"\n[[actors]]\nname = "a"\nmodule = "actors/a.ts"\nexport = "aDef"\n[actors.params]\nx = 1\n`)
  const p = loadProfile(file)
  t.equal(p.node.clusterId, 'c1')
  t.equal(p.transport.heartbeatIntervalMs, 100)
  t.equal(p.transport.heartbeatTimeoutMs, 2000)
  t.equal(p.peers.length, 2)
  t.same(p.peers[1], { node: 2, address: { host: '127.0.0.1', port: 2 } })
  t.same(p.actors, [{ name: 'a', module: join(dir, 'actors/a.ts'), export: 'aDef', host: 1, params: { x: 1 } }])
  t.same(p.files, [join(dir, 'base.toml'), file])
  const overridePeers = write('node2.toml', `include = "base.toml"\n${MINIMAL}[[peers]]\nnode = 9\naddress = "127.0.0.1:9"\n`)
  t.same(loadProfile(overridePeers).peers.map((x) => x.node), [9])
})

const BAD: Array<[string, string, RegExp, RegExp]> = [
  // [what, profile text after MINIMAL, key pattern, message pattern]
  ['an unknown key', '[transport]\nheartbeat_intervl = "1s"\n', /^transport\.heartbeat_intervl$/, /is not a known key; accepted: the keys of transport: kind, heartbeat_interval/],
  ['an unknown section', '[transprt]\nkind = "tcp"\n', /^transprt$/, /is not a known key; accepted: the top-level keys \[node\]/],
  ['a wrong type', '[placement]\nhosts_per_domain = "two"\n', /^placement\.hosts_per_domain$/, /is "two"; accepted: an integer from 1 to 64/],
  ['an out-of-range value', '[placement]\nhosts_per_domain = 65\n', /^placement\.hosts_per_domain$/, /is 65; accepted: an integer from 1 to 64/],
  ['a bad enum', '[kv]\nbackend = "rocksdb"\n', /^kv\.backend$/, /is "rocksdb"; accepted: one of "lmdb", "memory", "fdb"/],
  ['a duration without unit', '[transport]\nheartbeat_interval = 1000\n', /^transport\.heartbeat_interval$/, /is 1000; accepted: a duration string/],
  ['a duration out of range', '[transport]\nheartbeat_interval = "2h"\n', /^transport\.heartbeat_interval$/, /from 10ms to 1min/],
  ['an ambiguous size unit', '[transport]\nmax_frame_size = "64MB"\n', /^transport\.max_frame_size$/, /is "64MB"; accepted: an integer number of bytes or a size string/],
  ['a bad address', '[[peers]]\nnode = 2\naddress = "127.0.0.1"\n', /^peers\[0\]\.address$/, /accepted: an address "host:port"/],
  ['a port out of range', '[[peers]]\nnode = 2\naddress = "127.0.0.1:70000"\n', /^peers\[0\]\.address$/, /is "127.0.0.1:70000"/],
  ['a timeout below twice the interval', '[transport]\nheartbeat_interval = "1s"\nheartbeat_timeout = "1500ms"\n', /^transport\.heartbeat_timeout$/, /accepted: at least twice transport\.heartbeat_interval/],
  ['an actor on a host that does not exist', '[placement]\nhosts_per_domain = 2\n[[actors]]\nname = "a"\nmodule = "m.ts"\nexport = "x"\nhost = 3\n', /^actors\[0\]\.host$/, /is 3; accepted: 0 \(the main thread\) or a worker host from 1 to 2/],
  ['an actor entry with an unknown key', '[[actors]]\nname = "a"\nmodule = "m.ts"\nexport = "x"\nhosts = 1\n', /^actors\[0\]\.hosts$/, /is not a known key/],
  ['an actor without export', '[[actors]]\nname = "a"\nmodule = "m.ts"\n', /^actors\[0\]\.export$/, /is missing/],
  ['two actors with one name', '[[actors]]\nname = "a"\nmodule = "m.ts"\nexport = "x"\n[[actors]]\nname = "a"\nmodule = "m.ts"\nexport = "y"\n', /^actors\[1\]\.name$/, /is used twice/],
  ['duplicate peers', '[[peers]]\nnode = 2\naddress = "h:1"\n[[peers]]\nnode = 2\naddress = "h:2"\n', /^peers\[1\]\.node$/, /is listed twice/],
  ['fdb without a cluster file', '[kv]\nbackend = "fdb"\n', /^kv\.cluster_file$/, /is missing/],
  ['duplicate numa domains', '[placement]\nnuma_domains = [0, 0]\n', /^placement\.numa_domains$/, /distinct integers/],
]

t.test('bad profiles fail with the file, the key, the value and what is accepted', async (t) => {
  for (const [what, extra, key, message] of BAD) {
    const file = write('bad.toml', MINIMAL + extra)
    const error = profileErrorOf(() => loadProfile(file))
    t.match(error.details.key, key, `${what}: key`)
    t.equal(error.details.file, file, `${what}: file`)
    t.match(error.message, message, `${what}: message`)
    t.ok(error.message.startsWith(`${file}: `), `${what}: message starts with the file`)
    t.type(error.details.accepted, 'string', `${what}: accepted`)
  }
})

t.test('a required key that is missing is named', async (t) => {
  const error = profileErrorOf(() => parseProfile('[listen]\ntcp = "127.0.0.1:1"\n', join(dir, 'noid.toml')))
  t.equal(error.details.key, 'node.id')
  t.match(error.message, /node\.id is missing/)
})

t.test('an error in a base file names the base file', async (t) => {
  const base = write('badbase.toml', '[transport]\nhigh_water = "1KiB"\n')
  const file = write('child.toml', `include = "badbase.toml"\n${MINIMAL}`)
  const error = profileErrorOf(() => loadProfile(file))
  t.equal(error.details.file, base)
  t.equal(error.details.key, 'transport.high_water')
  t.match(error.message, /from 64KiB to 4GiB/)
})

t.test('include cycles, missing includes and TOML syntax errors are reported', async (t) => {
  write('c1.toml', 'include = "c2.toml"\n')
  write('c2.toml', 'include = "c1.toml"\n')
  t.match(profileErrorOf(() => loadProfile(join(dir, 'c1.toml'))).message, /forms a cycle/)
  const missing = write('m.toml', `include = "nope.toml"\n${MINIMAL}`)
  const error = profileErrorOf(() => loadProfile(missing))
  t.equal(error.details.file, missing)
  t.match(error.message, /include is ".*nope\.toml", which cannot be read \(ENOENT\)/)
  const syntax = write('s.toml', '[node]\nid = \n')
  const se = profileErrorOf(() => loadProfile(syntax))
  t.match(se.message, /s\.toml:2:\d+: Invalid TOML document/)
  t.equal(se.details.line, 2)
  t.match(profileErrorOf(() => loadProfile(join(dir, 'absent.toml'))).message, /cannot be read \(ENOENT\)/)
})

t.test('unit parsers accept exactly one number and one known unit', async (t) => {
  t.equal(parseDurationMs('250ms'), 250)
  t.equal(parseDurationMs('1min'), 60_000)
  t.equal(parseDurationMs('1.5s'), 1500)
  t.equal(parseDurationMs('5'), undefined)
  t.equal(parseDurationMs('5 s'), undefined)
  t.equal(parseDurationMs('-5s'), undefined)
  t.equal(parseSizeBytes('1MiB'), 1 << 20)
  t.equal(parseSizeBytes(4096), 4096)
  t.equal(parseSizeBytes('1MB'), undefined)
  t.equal(parseSizeBytes('0.5B'), undefined)
  t.equal(parseSizeBytes(-1), undefined)
  fc.assert(fc.property(fc.string(), (s) => {
    const ms = parseDurationMs(s)
    return ms === undefined || (Number.isFinite(ms) && ms >= 0)
  }))
})

t.test('overrides apply after every file; values read as TOML, else as strings', async (t) => {
  const { parseOverrideValue } = await import('../../../runtime/profile/index.ts')
  t.equal(parseOverrideValue('3'), 3)
  t.equal(parseOverrideValue('"5s"'), '5s')
  t.equal(parseOverrideValue('memory'), 'memory')
  t.equal(parseOverrideValue('127.0.0.1:9001'), '127.0.0.1:9001')
  t.same(parseOverrideValue('[0, 1]'), [0, 1])
  const p = loadProfile(join(repo, 'configs/dev.toml'), { 'kv.backend': 'memory', 'transport.high_water': '32MiB', 'log.level': 'warn' })
  t.equal(p.kv.backend, 'memory')
  t.equal(p.transport.highWaterBytes, 32 * 1024 * 1024)
  t.equal(p.log.level, 'warn')
  const e = profileErrorOf(() => loadProfile(join(repo, 'configs/dev.toml'), { 'actors[0].host': 1 }))
  t.match(e.message, /is not an overridable key/)
  // One knob of a named actor: actors.<name>.params.<knob> (how npm start's mount point moves).
  const moved = loadProfile(join(repo, 'configs/dev.toml'), { 'actors.fuse.params.mount_point': '/mnt/elsewhere' })
  t.same(moved.actors.find((a) => a.name === 'fuse')?.params, { mount_point: '/mnt/elsewhere' })
  t.match(profileErrorOf(() => loadProfile(join(repo, 'configs/dev.toml'), { 'actors.nope.params.x': 1 })).message, /names no actor "nope"; accepted: the name of an actor of this profile: mgmtd, meta/)
  t.match(profileErrorOf(() => loadProfile(join(repo, 'configs/dev.toml'), { 'actors.fuse.host': 1 })).message, /actors\.<name>\.params\.<knob>/)
  const e2 = profileErrorOf(() => loadProfile(join(repo, 'configs/dev.toml'), { 'kv.backend.x': 1 }))
  t.match(e2.message, /kv\.backend\.x .*backend is not a table/)
})
