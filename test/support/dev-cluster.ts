/**
 * The dev cluster of `npm start` (configs/dev.toml and configs/dev/) in a temp dir, for tests and
 * benchmarks through the mount: the same profiles with only what must differ rewritten (free
 * ports instead of 9000/9101…, the temp dir as the data root, the mount point inside it), launched
 * as `t3fs launch dev.toml` — one process that starts the storage nodes, bootstraps mgmtd and
 * mounts. `ready` resolves on its ClusterReady line.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { mountsAt } from '../../runtime/fuse-device.ts'
import { freePort } from './free-port.ts'

const repo = fileURLToPath(new URL('../../', import.meta.url))
export const t3fsBin = join(repo, 'bin/t3fs.mjs')
const READY_TIMEOUT_MS = 120_000
const LOG_KEPT_CHARS = 200_000
/** Log lines a start failure names at most: the warnings and errors, else the last lines. */
const START_FAILURE_LINES = 30

/** Why tests through the mount cannot run here (null: they can). */
export function mountSkipReason(): string | null {
  if (process.getuid?.() !== 0) return 'needs root (mount(2) needs CAP_SYS_ADMIN): run as root to test through the FUSE mount'
  if (!existsSync('/dev/fuse')) return 'no /dev/fuse on this machine'
  return null
}

export interface DevCluster {
  readonly dir: string
  readonly mnt: string
  readonly port: number
  /** The cluster's id (base.toml's "t3fs" unless startDevCluster was given another). */
  readonly clusterId: string
  /** Node 1's /metrics port (dev.toml's [metrics], moved to a free port). */
  readonly metricsPort: number
  /** The `t3fs launch dev.toml` process (null once it exited). */
  process: ChildProcess | null
  /** Storage node pids by node id (10001…), from its ChildStarted lines. */
  readonly storagePids: Map<number, number>
  log(): string
  /** Launches (again) and waits for ClusterReady. */
  start(): Promise<void>
  /** SIGINT (Ctrl-C) and waits for the exit; resolves to the exit code. */
  stop(): Promise<number | null>
  /** `t3fs status --json` output, parsed. */
  status(): Promise<unknown>
  /** Stops, detaches anything left and removes the dir. */
  close(): Promise<void>
}

/**
 * Writes the dev profiles into a temp dir, rewired to free ports and that dir. `clusterId`: the
 * cluster's id instead of base.toml's "t3fs" (its nodes refuse any other cluster's; its mount is
 * `t3fs.<clusterId>` in /proc/mounts, what smallpond's t3fs://<clusterId>/ finds), for a test that
 * must not reach another test's dev cluster running beside it.
 */
export async function prepareDevCluster(options: { dir?: string; logLevel?: 'info' | 'debug' | 'trace'; clusterId?: string } = {}): Promise<{ dir: string; mnt: string; port: number; metricsPort: number }> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 't3fs-dev-'))
  mkdirSync(join(dir, 'dev'), { recursive: true })
  const ports = new Map<string, string>()
  // 9100 and 9180: dev.toml's /metrics and dashboard listeners.
  for (const old of ['9000', '9101', '9102', '9103', '9100', '9180']) ports.set(old, String(await freePort()))
  const rewire = (text: string): string => text
    .replace(/127\.0\.0\.1:(9000|9101|9102|9103|9100|9180)/g, (_, p: string) => `127.0.0.1:${ports.get(p)}`)
    .replace(/"var\/dev\//g, `"${dir}/var/`)
    .replace(/^socket_path = "\/dev\/shm\/t3fs-usrbio\.sock"/m, `socket_path = ${JSON.stringify(join(dir, 'usrbio.sock'))}`)
    .replace(/^mount_point = "mnt"/m, `mount_point = ${JSON.stringify(join(dir, 'mnt'))}`)
    .replace(/^cluster_id = "t3fs"/m, `cluster_id = ${JSON.stringify(options.clusterId ?? 't3fs')}`)
    .replace(/^level = "info"/m, `level = ${JSON.stringify(options.logLevel ?? 'info')}`)
  const copy = (from: string, to: string): void => writeFileSync(join(dir, to), rewire(readFileSync(join(repo, 'configs', from), 'utf8')))
  // base.toml's node root is the checkout (actor modules resolve against it); the data is in `dir`.
  writeFileSync(join(dir, 'base.toml'), rewire(readFileSync(join(repo, 'configs/base.toml'), 'utf8')).replace(/^root = "[^"]*"/m, `root = ${JSON.stringify(repo)}`))
  copy('dev.toml', 'dev.toml')
  for (const f of ['storage1.toml', 'storage2.toml', 'storage3.toml', 'chains.csv', 'chain-table.csv']) copy(`dev/${f}`, `dev/${f}`)
  return { dir, mnt: join(dir, 'mnt'), port: Number(ports.get('9000')), metricsPort: Number(ports.get('9100')) }
}

/** `logLevel` must keep info lines (ClusterReady is one): info (default), debug or trace. */
export async function startDevCluster(options: { dir?: string; logLevel?: 'info' | 'debug' | 'trace'; keepDir?: boolean; clusterId?: string } = {}): Promise<DevCluster> {
  const { dir, mnt, port, metricsPort } = await prepareDevCluster(options)
  let log = ''
  let exited: Promise<number | null> = Promise.resolve(null)
  const cluster: DevCluster = {
    dir, mnt, port, metricsPort, clusterId: options.clusterId ?? 't3fs', process: null, storagePids: new Map(),
    log: () => log,
    async start() {
      // T3FS_CHILD_NODE_ARGS (e.g. --cpu-prof --cpu-prof-dir=/tmp/p): node flags for node 1 (and, as
      // bin/cluster.ts reads it too, for the storage nodes it launches). Profiles are written on stop().
      const nodeArgs = (process.env.T3FS_CHILD_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
      const child = spawn(process.execPath, [...nodeArgs, t3fsBin, 'launch', join(dir, 'dev.toml')], { stdio: ['ignore', 'ignore', 'pipe'] })
      cluster.process = child
      exited = new Promise((resolve) => child.once('exit', (code, signal) => {
        cluster.process = null
        // A launcher killed by a signal has no exit code: its log says what it was doing.
        if (signal !== null) log += `\n[dev-cluster] t3fs launch was killed by ${signal}\n`
        resolve(code)
      }))
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(startFailure(`the dev cluster was not ready in ${READY_TIMEOUT_MS} ms`, log))), READY_TIMEOUT_MS)
        child.stderr!.on('data', (c: Buffer) => {
          const text = c.toString()
          log = (log + text).slice(-LOG_KEPT_CHARS)
          for (const m of text.matchAll(/"evt":"ChildStarted","profile":"[^"]*storage(\d)\.toml","pid":(\d+)/g)) cluster.storagePids.set(10_000 + Number(m[1]), Number(m[2]))
          if (/"evt":"ClusterReady"/.test(text)) {
            clearTimeout(timer)
            resolve()
          }
          if (/"evt":"(ClusterReadyNotMounted|ClusterNotReady|NodeFailed)"/.test(text)) {
            clearTimeout(timer)
            reject(new Error(startFailure('the dev cluster did not come up', log)))
          }
        })
        void exited.then((code) => {
          clearTimeout(timer)
          reject(new Error(startFailure(`t3fs launch exited (${code}) before the cluster was ready`, log)))
        })
      })
    },
    async stop() {
      if (cluster.process === null) return exited
      cluster.process.kill('SIGINT')
      return exited
    },
    async status() {
      const child = spawn(process.execPath, [t3fsBin, 'status', '--json', '--mgmtd', `127.0.0.1:${port}`, '--cluster-id', cluster.clusterId], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
      child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
      if (code !== 0) throw new Error(`t3fs status exited ${code}: ${err}`)
      return JSON.parse(out) as unknown
    },
    async close() {
      if (cluster.process !== null) {
        const p = cluster.process
        const timer = setTimeout(() => p.kill('SIGKILL'), 30_000)
        await cluster.stop()
        clearTimeout(timer)
      }
      // Only a process that is still one of this cluster's nodes: a pid of one that exited may
      // belong to another process by now (tests run in parallel).
      for (const pid of cluster.storagePids.values()) if (ownNode(pid, dir)) process.kill(pid, 'SIGKILL')
      if ((await mountsAt(mnt)).length > 0) {
        const { unmountFuse } = await import('../../runtime/fuse-device.ts')
        await unmountFuse(mnt, { lazy: true }).catch(() => {})
      }
      if (options.keepDir !== true) rmSync(dir, { recursive: true, force: true })
    },
  }
  try {
    await cluster.start()
  } catch (error) {
    await cluster.close()
    throw error
  }
  return cluster
}

const PROBLEM_LINES = 40
const PROBLEM_LINE_CHARS = 400

/**
 * The cluster's warnings and errors (pino level ≥ 40: FuseRequestFailed, ActorFailed, PeerDown…),
 * its last `max` lines: what a failed test through the mount prints, since the launcher's log
 * lives only in this process and CI keeps nothing else.
 */
export function clusterProblems(cluster: Pick<DevCluster, 'log'>, max = PROBLEM_LINES): string[] {
  return cluster.log().split('\n').filter((line) => /^\{"level":(4|5|6)0,/.test(line)).slice(-max).map((line) => line.slice(0, PROBLEM_LINE_CHARS))
}

/** On a failed test `t`, comments the cluster's warnings and errors when `t` ends. */
export function reportClusterOnFailure(t: { passing(): boolean; teardown(fn: () => void): void; comment(...args: unknown[]): void }, cluster: () => Pick<DevCluster, 'log'> | null): void {
  t.teardown(() => {
    const c = cluster()
    if (t.passing() || c === null) return
    const lines = clusterProblems(c)
    t.comment(`the dev cluster's last ${lines.length} warnings and errors:\n${lines.join('\n')}`)
  })
}

/**
 * Why a start failed, with the log lines that say why: its warnings and errors, or its last lines
 * when it has none. Short enough for a test failure's one line (tap makes the message its name).
 */
function startFailure(what: string, log: string): string {
  const problems = clusterProblems({ log: () => log }, START_FAILURE_LINES)
  const lines = problems.length > 0 ? problems : log.trimEnd().split('\n').slice(-START_FAILURE_LINES).map((l) => l.slice(0, PROBLEM_LINE_CHARS))
  return `${what}; the launcher's ${problems.length > 0 ? 'warnings and errors' : 'last log lines'}:\n${lines.join('\n')}`
}

/** Whether `pid` is a live `t3fs launch` of a profile under `dir`. */
export function ownNode(pid: number, dir: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    return cmdline.includes('launch') && cmdline.includes(dir)
  } catch {
    return false
  }
}

/** Whether a process with this pid is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
