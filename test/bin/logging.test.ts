import t, { type Test } from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import { main, type Io } from '../../bin/cli.ts'
import { createNodeLogger, resolveLogLevel } from '../../bin/logging.ts'
import { isT3fsError } from '../../runtime/errors.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
const bin = join(repo, 'bin/t3fs.mjs')
const dir = mkdtempSync(join(tmpdir(), 't3fs-logging-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

function io(): Io & { out: string[]; err: string[] } {
  const out: string[] = []
  const err: string[] = []
  return { out, err, stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }
}

/** A node with the hello actor on worker host 1, which logs HelloActorInit at info from that host. */
function profileWith(name: string, level: string): string {
  const file = join(dir, `${name}.toml`)
  writeFileSync(
    file,
    `[node]\nid = 7\nroot = ${JSON.stringify(repo)}\n[listen]\ntcp = "127.0.0.1:0"\n[placement]\nhosts_per_domain = 1\n` +
      `[kv]\nbackend = "memory"\n[log]\nlevel = "${level}"\n[shutdown]\ngrace_period = "1s"\n` +
      `[[actors]]\nname = "hello"\nmodule = "test/bin/fixtures/hello-actor.ts"\nexport = "hello"\nhost = 1\n[actors.params]\ngreeting = "from-host-1"\n`,
  )
  return file
}

/** Runs a child until its output shows `ready` (then SIGTERM) or it exits; resolves with its output and exit code. */
async function runUntil(t: Test, child: ChildProcess, ready: RegExp): Promise<{ output: string; code: number | null }> {
  const killer = setTimeout(() => child.kill('SIGKILL'), 25_000)
  t.teardown(() => {
    clearTimeout(killer)
    child.kill('SIGKILL')
  })
  let output = ''
  let signalled = false // a second signal would force an exit (code 1)
  const onData = (chunk: Buffer) => {
    output += chunk.toString()
    if (!signalled && ready.test(output)) signalled = child.kill('SIGTERM')
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  return { output, code }
}

function withoutLogLevel(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra }
  if (!('T3FS_LOG_LEVEL' in extra)) delete env.T3FS_LOG_LEVEL
  return env
}

t.test('the level comes from --log-level, else T3FS_LOG_LEVEL, else the profile', async (t) => {
  t.same(resolveLogLevel('debug', 'warn', 'info'), { level: 'debug', from: '--log-level' })
  t.same(resolveLogLevel(undefined, 'warn', 'info'), { level: 'warn', from: 'T3FS_LOG_LEVEL' })
  t.same(resolveLogLevel(undefined, '', 'error'), { level: 'error', from: 'profile' }, 'an empty variable counts as unset')
  t.same(resolveLogLevel(undefined, undefined, 'trace'), { level: 'trace', from: 'profile' })
  for (const [flag, env, source] of [['loud', undefined, '--log-level'], [undefined, 'INFO', 'T3FS_LOG_LEVEL']] as const) {
    try {
      resolveLogLevel(flag, env, 'info')
      t.fail(`${source} ${flag ?? env} was accepted`)
    } catch (error) {
      t.ok(isT3fsError(error, 'ERR_LOG_LEVEL'), 'a coded error')
      t.match((error as Error).message, new RegExp(`${source} is "${flag ?? env}"; accepted: fatal, error, warn, info, debug, trace, silent`))
    }
  }
})

t.test('launch validates the level before anything starts and shows it in the plan', async (t) => {
  const dev = join(repo, 'configs/dev.toml')
  let x = io()
  t.equal(await main(['launch', '--dry-run', '--log-level', 'debug', dev], x), 0)
  t.match(x.out.join(''), /log level debug \(stderr\)/)
  x = io()
  t.equal(await main(['launch', '--dry-run', '--log-level', 'chatty', dev], x), 2, 'a bad level is a usage error')
  t.match(x.err.join(''), /--log-level is "chatty"; accepted: fatal, error/)
  const saved = process.env.T3FS_LOG_LEVEL
  t.teardown(() => (saved === undefined ? delete process.env.T3FS_LOG_LEVEL : (process.env.T3FS_LOG_LEVEL = saved)))
  process.env.T3FS_LOG_LEVEL = 'warn'
  x = io()
  t.equal(await main(['launch', '--dry-run', dev], x), 0)
  t.match(x.out.join(''), /log level warn \(stderr\)/)
  process.env.T3FS_LOG_LEVEL = 'verbose'
  x = io()
  t.equal(await main(['launch', '--dry-run', dev], x), 2)
  t.match(x.err.join(''), /T3FS_LOG_LEVEL is "verbose"; accepted:/)
})

/**
 * The JSON logger's SonicBoom owns the fd: ending it closes the fd once nothing is pending. Closing
 * it under SonicBoom made a late write fail with EBADF (or land in a file that reused the number).
 */
async function closeLogDestination(log: pino.Logger, fd: number): Promise<void> {
  const stream = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as { end?: () => void; once?: (event: string, listener: () => void) => void }
  if (typeof stream.end !== 'function' || typeof stream.once !== 'function') return closeSync(fd) // pretty: synchronous writes
  await new Promise<void>((resolve) => {
    stream.once!('close', resolve)
    stream.end!()
  })
}

t.test('the node logger writes JSON lines, or readable lines for a terminal', async (t) => {
  for (const format of ['json', 'pretty'] as const) {
    const file = join(dir, `${format}.log`)
    const fd = openSync(file, 'w')
    const log = createNodeLogger({ level: 'info', node: 3, format, fd })
    log.debug({ evt: 'Hidden' }, 'below the level')
    log.info({ evt: 'NodeStarted', listen: '127.0.0.1:9000' }, 'node 3 started')
    await new Promise<void>((resolve) => log.flush(() => resolve()))
    await closeLogDestination(log, fd)
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    t.equal(lines.length, 1, `${format}: one record at or above the level`)
    if (format === 'json') {
      t.match(JSON.parse(lines[0]), { level: 30, node: 3, evt: 'NodeStarted', msg: 'node 3 started' })
    } else {
      t.throws(() => JSON.parse(lines[0]), 'not JSON')
      t.match(lines[0].replace(/\x1b\[[0-9;]*m/g, ''), /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: NodeStarted: node 3 started \{"node":3,"listen":"127\.0\.0\.1:9000"\}$/)
    }
  }
})

t.test('--log-level beats T3FS_LOG_LEVEL and the profile, for the worker hosts too', async (t) => {
  const profile = profileWith('flag', 'error')
  const child = spawn(process.execPath, [bin, 'launch', '--log-level', 'info', profile], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: withoutLogLevel({ T3FS_LOG_LEVEL: 'warn' }),
  })
  const { output, code } = await runUntil(t, child, /"evt":"NodeStarted"/)
  t.equal(code, 0)
  t.match(output, /"evt":"NodeStarted"/, 'host 0 logs at info')
  const hello = output.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>).find((r) => r.evt === 'HelloActorInit')
  t.match(hello, { level: 30, time: Number, node: 7, host: 1, greeting: 'from-host-1' }, 'worker host 1 logs at info, as pino does')
})

t.test('T3FS_LOG_LEVEL beats the profile', async (t) => {
  const child = spawn(process.execPath, [bin, 'launch', profileWith('env', 'error')], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: withoutLogLevel({ T3FS_LOG_LEVEL: 'info' }),
  })
  const { output, code } = await runUntil(t, child, /"evt":"NodeStarted"/)
  t.equal(code, 0)
  t.match(output, /"evt":"NodeStarted"/)
  for (const line of output.trim().split('\n')) t.doesNotThrow(() => JSON.parse(line), 'stderr is not a terminal: JSON lines')
})

const scriptProbe = spawnSync('script', ['--version'], { encoding: 'utf8' }).error
const noTerminal = scriptProbe ? `util-linux \`script\` (gives the node a terminal) is not installed: ${scriptProbe.message}` : false

t.test('on a terminal the node logs readable lines, worker hosts too', { skip: noTerminal }, async (t) => {
  const command = [process.execPath, bin, 'launch', profileWith('tty', 'info')].map((a) => `'${a}'`).join(' ')
  const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], env: withoutLogLevel() })
  const { output } = await runUntil(t, child, /NodeStarted: node 7 started/)
  const lines = output.replace(/\x1b\[[0-9;]*m/g, '').split(/\r?\n/).filter((l) => l.startsWith('['))
  t.ok(lines.some((l) => /^\[[\d:.]+\] INFO: NodeStarted: node 7 started \{"node":7,/.test(l)), 'host 0, through pino-pretty')
  t.ok(lines.some((l) => /^\[[\d:.]+\] INFO: HelloActorInit \{.*"host":1,.*"greeting":"from-host-1"\}/.test(l)), 'worker host 1, the same look')
  t.notOk(output.split(/\r?\n/).some((l) => l.startsWith('{')), 'no JSON lines on a terminal')
})
