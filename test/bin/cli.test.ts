import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main, type Io } from '../../bin/cli.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 't3fs-cli-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function io(): Io & { out: string[]; err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }
}

t.test('help, version and usage errors have their exit codes', async (t) => {
  let x = io()
  t.equal(await main(['--help'], x), 0)
  t.match(x.out.join(''), /usage: t3fs <command>/)
  x = io()
  t.equal(await main([], x), 2)
  t.match(x.err.join(''), /usage: t3fs/)
  x = io()
  t.equal(await main(['frobnicate'], x), 2)
  t.match(x.err.join(''), /unknown command "frobnicate"; accepted: launch/)
  x = io()
  t.equal(await main(['--version'], x), 0)
  t.match(x.out.join(''), /^\d+\.\d+\.\d+/)
  x = io()
  t.equal(await main(['launch', '-h'], x), 0)
  t.match(x.out.join(''), /usage: t3fs launch/)
  x = io()
  t.equal(await main(['launch', '--bogus', 'p.toml'], x), 2)
  t.match(x.err.join(''), /Unknown option '--bogus'/)
  x = io()
  t.equal(await main(['launch'], x), 2)
  t.match(x.err.join(''), /expected one profile file, got 0/)
})

t.test('launch --dry-run prints the resolved plan of configs/dev.toml', async (t) => {
  let x = io()
  t.equal(await main(['launch', '--dry-run', join(repo, 'configs/dev.toml')], x), 0)
  const text = x.out.join('')
  t.match(text, /node 1 of cluster t3fs\n/)
  t.match(text, /listen {5}tcp 127\.0\.0\.1:9000/)
  t.match(text, /transport {2}tcp \(requested auto\): auto: .*using tcp/)
  t.match(text, /hosts {6}0 \(main thread\), 1 \(domain 0\), 2 \(domain 0\)/)
  t.match(text, /kv {9}lmdb at .*var\/dev\/kv/)
  x = io()
  t.equal(await main(['launch', '--dry-run', '--json', join(repo, 'configs/dev.toml')], x), 0)
  const plan = JSON.parse(x.out.join(''))
  t.equal(plan.node, 1)
  t.equal(plan.transport.kind, 'tcp')
  t.same(plan.hosts, [{ host: 1, domain: 0 }, { host: 2, domain: 0 }])
})

t.test('a bad profile exits 1 with the file, key, value and accepted values', async (t) => {
  const bad = join(dir, 'bad.toml')
  writeFileSync(bad, '[node]\nid = 1\n[listen]\ntcp = "127.0.0.1:9000"\n[placement]\nhosts_per_domain = 0\n')
  const x = io()
  t.equal(await main(['launch', '--dry-run', bad], x), 1)
  t.match(x.err.join(''), new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: placement\\.hosts_per_domain is 0; accepted: an integer from 1 to 64`))
  const y = io()
  t.equal(await main(['launch', join(dir, 'missing.toml')], y), 1)
  t.match(y.err.join(''), /cannot be read \(ENOENT\)/)
})

/** Launches `t3fs launch <profile>` and resolves once it logged NodeStarted (or exited). */
async function launchUntilStarted(t: Test, profile: string) {
  const child = spawn(process.execPath, [join(repo, 'bin/t3fs.mjs'), 'launch', profile], { stdio: ['ignore', 'pipe', 'pipe'] })
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000)
  t.teardown(() => {
    clearTimeout(killer)
    child.kill('SIGKILL')
  })
  let stderr = ''
  const started = new Promise<void>((resolve) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (stderr.includes('"evt":"NodeStarted"')) resolve()
    })
  })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  await Promise.race([started, exited])
  return { child, exited, log: () => stderr }
}

t.test('a launched node starts, logs to stderr and stops cleanly on SIGTERM', async (t) => {
  const profile = join(dir, 'node.toml')
  writeFileSync(profile, '[node]\nid = 4\n[listen]\ntcp = "127.0.0.1:0"\n[placement]\nhosts_per_domain = 1\n[kv]\nbackend = "memory"\n[shutdown]\ngrace_period = "1s"\n')
  const { child, exited, log } = await launchUntilStarted(t, profile)
  const stderr = log()
  t.match(stderr, /"evt":"TransportSelected","kind":"tcp"/)
  t.match(stderr, /"evt":"NodeStarted"/)
  child.kill('SIGTERM')
  t.equal(await exited, 0)
  t.match(log(), /"evt":"NodeStopped"/)
  for (const line of log().trim().split('\n')) t.doesNotThrow(() => JSON.parse(line), 'every stderr line is a JSON log record')
})

t.test('a launched node spawns the profile actors on its worker hosts', async (t) => {
  const profile = join(dir, 'actors.toml')
  writeFileSync(
    profile,
    `[node]\nid = 5\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n[placement]\nhosts_per_domain = 2\n[kv]\nbackend = "memory"\n[shutdown]\ngrace_period = "1s"\n` +
      `[[actors]]\nname = "on-second"\nmodule = "test/bin/fixtures/hello-actor.ts"\nexport = "hello"\nhost = 2\n[actors.params]\ngreeting = "second"\n` +
      `[[actors]]\nname = "on-worker"\nmodule = "test/bin/fixtures/hello-actor.ts"\nexport = "hello"\nhost = 1\n[actors.params]\ngreeting = "worker"\n`,
  )
  const { child, exited, log } = await launchUntilStarted(t, profile)
  t.match(log(), /"evt":"ActorStarted","actor":"on-second","host":2/)
  t.match(log(), /"evt":"ActorStarted","actor":"on-worker","host":1/)
  t.match(log(), /"actors":2/)
  child.kill('SIGINT')
  t.equal(await exited, 0)
})

t.test('an actor module without the named export fails the launch with exit 1', async (t) => {
  const profile = join(dir, 'badexport.toml')
  writeFileSync(
    profile,
    `[node]\nid = 6\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n[kv]\nbackend = "memory"\n` +
      `[[actors]]\nname = "x"\nmodule = "test/bin/fixtures/hello-actor.ts"\nexport = "nope"\nhost = 1\n`,
  )
  const child = spawn(process.execPath, [join(repo, 'bin/t3fs.mjs'), 'launch', profile], { stdio: ['ignore', 'pipe', 'pipe'] })
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000)
  t.teardown(() => clearTimeout(killer))
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  t.equal(code, 1)
  t.match(stderr, /actor x \(nope from .*hello-actor\.ts\) did not start/)
})

t.test('--config.<key>=<value> overrides apply after every file and are validated like them', async (t) => {
  let x = io()
  const dev = join(repo, 'configs/dev.toml')
  t.equal(await main(['launch', '--dry-run', '--json', '--config.node.id=2', '--config.listen.tcp=127.0.0.1:9001', '--config.transport.heartbeat_timeout="8s"', dev], x), 0)
  const plan = JSON.parse(x.out.join(''))
  t.equal(plan.node, 2)
  t.equal(plan.listen, '127.0.0.1:9001')
  t.same(plan.heartbeat, { intervalMs: 1000, timeoutMs: 8000 })
  t.same(plan.peers.filter((p: { node: number }) => p.node === 1), [{ node: 1, address: '127.0.0.1:9000' }], 'node 1 is now a peer')
  x = io()
  t.equal(await main(['launch', '--dry-run', '--config.placement.hosts_per_domain=100', dev], x), 1)
  t.match(x.err.join(''), /\(command line --config\): placement\.hosts_per_domain is 100; accepted: an integer from 1 to 64/)
  x = io()
  t.equal(await main(['launch', '--dry-run', '--config.transport.hearbeat=1s', dev], x), 1)
  t.match(x.err.join(''), /transport\.hearbeat is not a known key/)
  x = io()
  t.equal(await main(['launch', '--dry-run', '--config.node.id', dev], x), 2)
  t.match(x.err.join(''), /needs a value/)
})
