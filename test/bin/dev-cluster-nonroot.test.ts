/**
 * `npm start` as a user without root (the dev profiles run as nobody through setpriv): mount(2) is
 * refused, the log and `t3fs status` say why and how to mount, and the cluster still comes up with
 * every chain SERVING (storage nodes whose pools do not fit under `ulimit -l` run them unregistered);
 * Ctrl-C stops it all.
 */
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { ownNode, prepareDevCluster, t3fsBin } from '../support/dev-cluster.ts'
import { mountsAt } from '../../runtime/fuse-device.ts'

const NOBODY = 65_534
const skip = process.getuid?.() !== 0
  ? 'needs root to run the cluster as another user (setpriv)'
  : spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0 ? 'setpriv (util-linux) is not installed' : false
if (skip) t.comment(`skipping the non-root npm start test: ${skip}`)

function chmodTree(path: string): void {
  chmodSync(path, statSync(path).isDirectory() ? 0o777 : 0o666)
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chmodTree(join(path, e))
}

t.test('not root: not mounted, says how, the cluster still serves', { skip, timeout: 180_000 }, async (t) => {
  const { dir, mnt, port } = await prepareDevCluster()
  chmodTree(dir)
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, t3fsBin, 'launch', join(dir, 'dev.toml')], {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, HOME: dir },
  })
  let log = ''
  // A launcher killed by a signal has no exit code: the signal goes into the log the checks print.
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => {
    if (signal !== null) log += `\n[test] t3fs launch was killed by ${signal}\n`
    resolve(code)
  }))
  t.teardown(() => { child.kill('SIGKILL') })
  const pids: number[] = []
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ClusterReadyNotMounted in 120 s:\n${log.slice(-20_000)}`)), 120_000)
    child.stderr!.on('data', (c: Buffer) => {
      log += c.toString()
      for (const m of c.toString().matchAll(/"evt":"ChildStarted","profile":"[^"]*","pid":(\d+)/g)) pids.push(Number(m[1]))
      if (log.includes('"evt":"ClusterReadyNotMounted"')) {
        clearTimeout(timer)
        resolve()
      }
    })
    void exited.then((code) => reject(new Error(`launch exited (${code}):\n${log.slice(-20_000)}`)))
  })
  t.match(log, /not mounted: mounting needs root: run `sudo npm start`/, 'the log says how to mount')
  t.match(log, /"evt":"ClusterServing"/, 'every chain SERVING')
  t.same(await mountsAt(mnt), [], 'nothing mounted')
  const status = spawnSync(process.execPath, [t3fsBin, 'status', '--mgmtd', `127.0.0.1:${port}`], { encoding: 'utf8' })
  t.equal(status.status, 0)
  t.match(status.stdout, /not mounted: mounting needs root/, 't3fs status shows why')
  t.match(status.stdout, /1\s+\d+\s+\d+\(SERVING\) \d+\(SERVING\) \d+\(SERVING\)/, 'and a chain of three SERVING targets')
  child.kill('SIGINT')
  const code = await exited
  t.equal(code, 0, 'Ctrl-C stops it', { log: log.split('\n').filter((l) => /NodeSto|"level":50|Forced|Failed|killed by/.test(l)).join('\n'), tail: log.slice(-4000) })
  t.equal(pids.length, 3)
  const deadline = Date.now() + 20_000
  while (pids.some((p) => ownNode(p, dir)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
  t.notOk(pids.some((p) => ownNode(p, dir)), 'no storage node left')
})
