import t from 'tap'
import { openKv } from '../../../actors/kv/index.ts'
import { metaActor } from '../../../actors/meta/meta-actor.ts'
import type { MetaMsg } from '../../../actors/meta/protocol.ts'
import { adminCommand, type AdminDeps } from '../../../actors/mgmtd/admin/cli.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { ActorSystem } from '../../../runtime/actor-system.ts'
import { ROUTING } from './harness.ts'

/** A meta server on the wall clock in this process; the CLI reaches it through connectMeta. */
const system = ActorSystem.create()
const kv = await openKv({ backend: 'memory' })
const meta = system.spawn(metaActor, { serverId: 1, kv, routing: ROUTING, config: { admin_token: 'admin-token-for-tests', gc_scan_interval: '1h' } }, { name: 'meta' }) as unknown as ActorRef<MetaMsg>
t.teardown(async () => { system.shutdown(); await kv.close() })
const targets: { address: string; node: number; name: string }[] = []
const deps: AdminDeps = {
  connect: () => Promise.reject(new Error('meta commands do not talk to mgmtd')),
  readFile: () => Promise.reject(new Error('no files')),
  connectMeta: async (target) => {
    targets.push(target)
    return { meta, close: async () => undefined }
  },
}

async function admin(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await adminCommand(args, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, deps)
  return { code, out: out.join(''), err: err.join('') }
}

const ask = <T>(m: object) => meta.ask({ user: { uid: 0, gid: 0 }, clientId: 'setup', requestId: `r${Math.random()}`, ...m } as never) as Promise<T>
await ask({ type: 'mkdirs', path: { path: '/data/set' }, perm: 0o755, recursive: true })
await ask({ type: 'create', path: { path: '/data/set/a.parquet' }, flags: { access: 'write' }, perm: 0o644, session: 'w1' })
await ask({ type: 'symlink', path: { path: '/data/latest' }, target: 'set' })

t.test('stat and ls print the tree; --json gives the records; --meta and --meta-node choose the server', async (t) => {
  let r = await admin('stat', '/data/set/a.parquet', '--meta', '10.0.0.5:9100', '--meta-node', '3')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /Type\s+file\nMode\s+-0644\nUid\s+0/)
  t.match(r.out, /Layout\s+table 1 v1, chunk 1048576, stripe 1, chains range/)
  t.same(targets.at(-1), { address: '10.0.0.5:9100', node: 3, name: 'meta', timeoutMs: 5000, clusterId: 't3fs' })
  r = await admin('stat', '/data/latest', '--no-follow')
  t.match(r.out, /Type\s+symlink[\s\S]*Target\s+set/)
  r = await admin('ls', '/data', '--json')
  t.equal(r.code, 0, r.err)
  t.same((JSON.parse(r.out) as { entry: { name: string } }[]).map((x) => x.entry.name), ['latest', 'set'])
  r = await admin('ls', '/data/set')
  t.match(r.out, /^Mode\s+Inode\s+Uid\s+Gid\s+Length\s+Mtime\s+Name\n-0644\s+\d+\s+0\s+0\s+0\s+\S+\s+a\.parquet\n$/)
})

t.test('refusals are POSIX errnos with exit code 1; bad arguments are usage errors with exit code 2', async (t) => {
  let r = await admin('stat', '/nope')
  t.equal(r.code, 1)
  t.match(r.err, /t3fs admin stat: ENOENT: \/nope does not exist \[ENOENT\]/)
  r = await admin('stat', 'relative')
  t.equal(r.code, 2)
  t.match(r.err, /path "relative" is not accepted; accepted: an absolute path/)
  r = await admin('rm-rf', '/data', '--expire', 'soon')
  t.equal(r.code, 2)
  t.match(r.err, /--expire "soon" is not accepted/)
  r = await admin('ls', '/data', '--uid', 'x')
  t.equal(r.code, 2)
  t.match(r.err, /--uid "x" is not accepted/)
  r = await admin('list-sessions')
  t.equal(r.code, 1)
  t.match(r.err, /EPERM: this request needs an admin token/)
})

t.test('list-sessions with an admin token; rm-rf moves a tree into the user\'s trash', async (t) => {
  let r = await admin('list-sessions', '--token', 'admin-token-for-tests')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /Inode\s+Session\s+Client\s+Created\n\d+\s+w1\s+setup\s+\S+/)
  r = await admin('rm-rf', '/data/set', '--expire', '2h')
  t.equal(r.code, 0, r.err)
  t.match(r.out, /\/data\/set moved to \/trash\/0\/\d+-set; removed after \d{4}-/)
  r = await admin('ls', '/trash/0')
  t.match(r.out, /\d+-set\n$/)
  t.equal((await admin('stat', '/data/set')).code, 1)
})

t.test('the usage lists the file system commands', async (t) => {
  const r = await admin('--help')
  t.match(r.out, /file system commands \(a meta server\):\n\s+stat <path>/)
  t.match(r.out, /rm-rf <path> \[--expire DURATION\]/)
})

t.test('rm-rf without --expire keeps the tree 24h', async (t) => {
  await ask({ type: 'mkdirs', path: { path: '/old' }, perm: 0o755, recursive: false })
  const r = await admin('rm-rf', '/old', '--json')
  t.equal(r.code, 0, r.err)
  const moved = JSON.parse(r.out) as { expiresAtMs: number }
  t.ok(Math.abs(moved.expiresAtMs - Date.now() - 24 * 3600_000) < 60_000)
})
