/**
 * Stats reuse the path walks made at the same KV version (walk-cache.ts): what a walk passes is read
 * once while nothing commits, and any commit — a rename, chmod, removal or re-creation of a
 * directory on the path, through this server or another — is seen by the very next stat.
 */
import t from 'tap'
import type { Kv, SnapshotReader } from '../../../actors/kv/index.ts'
import type { DirRef } from '../../../actors/meta/path-resolve.ts'
import { WalkCache } from '../../../actors/meta/walk-cache.ts'
import { ALICE, harness, ROOT } from './harness.ts'

t.test('the cache holds walks of one version: another version empties it; bounded', async (t) => {
  const cache = new WalkCache(2)
  const dir: DirRef = { id: 5, acl: { uid: 0, gid: 0, perm: 0o755, iflags: 0 }, path: '/a' }
  cache.at(7n).set('/a/', { dir, searched: [] })
  t.equal(cache.at(7n).get('/a/')?.dir.id, 5, 'the same version finds it')
  t.ok(Object.isFrozen(cache.at(7n).get('/a/')?.dir), 'a cached walk is frozen (shared by every stat)')
  t.equal(cache.at(8n).get('/a/'), undefined, 'a snapshot at another version does not')
  t.equal(cache.at(7n).get('/a/'), undefined, 'and the old version is gone for good')
  const at = cache.at(9n)
  for (const p of ['/x/', '/y/', '/z/']) at.set(p, { dir, searched: [] })
  t.ok(cache.size <= 2, `bounded (${cache.size} walks)`)
})

/** The KV with its snapshot reads counted. */
let reads = 0
function countingReads(kv: Kv): Kv {
  const counted = (reader: SnapshotReader): SnapshotReader => ({
    get readVersion() {
      return reader.readVersion
    },
    get(key) {
      reads++
      return reader.get(key)
    },
  })
  const wrapped = new Proxy(kv, {
    get(target, name, receiver) {
      if (name === 'readSnapshot') return <T>(fn: (reader: SnapshotReader) => T): T => (target.readSnapshot as NonNullable<Kv['readSnapshot']>)((reader) => fn(counted(reader)))
      const value = Reflect.get(target, name, receiver) as unknown
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value
    },
  })
  return wrapped
}

t.test('a stat of a path walked at this version reads only its entry and its inode', async (t) => {
  const h = await harness({ serverKv: countingReads })
  t.teardown(() => h.close())
  const root = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(root.request({ type: 'mkdirs', path: { path: '/a/b/c' }, perm: 0o755, recursive: true }))
  for (const f of ['f1', 'f2']) await run(root.request({ type: 'create', path: { path: `/a/b/c/${f}` }, flags: { access: 'write' }, perm: 0o644 }))
  let before = reads
  t.equal((await run(root.request({ type: 'stat', path: { path: '/a/b/c/f1' } }))).type, 'file')
  const first = reads - before
  before = reads
  t.equal((await run(root.request({ type: 'stat', path: { path: '/a/b/c/f2' } }))).type, 'file')
  const second = reads - before
  t.ok(first >= 5, `the first stat walked the path (${first} reads: the root inode, a, b, c, f1 and its inode)`)
  t.equal(second, 2, 'the next one in the same directory, nothing committed between: the entry and the inode')
  await run(root.request({ type: 'create', path: { path: '/a/b/c/f3' }, flags: { access: 'write' }, perm: 0o644 }))
  before = reads
  await run(root.request({ type: 'stat', path: { path: '/a/b/c/f1' } }))
  t.equal(reads - before, first, 'after a commit the walk is made again')
})

t.test('a commit by another server changes what the next stat sees, whatever was cached', async (t) => {
  const h = await harness({ servers: 2 })
  t.teardown(() => h.close())
  const run = <T>(p: Promise<T>) => h.settle(p)
  // Each client sticks to one server (the client rotates over the servers it is given).
  const [one, two] = h.servers
  const { MetaClient } = await import('../../../actors/meta/meta-client.ts')
  const on = (server: typeof one, user = ROOT) => new MetaClient({ servers: [server], clientId: `c-${server.address.id}-${user.uid}`, user, clock: h.ts.clock, random: h.ts.random, maxAttempts: 1 })
  const statter = on(one)
  const aliceStats = on(one, ALICE)
  const writer = on(two)
  const stat = (c: typeof statter, path: string) => run(c.request({ type: 'stat', path: { path } }))
  const refused = (c: typeof statter, path: string, code: string, why: string) => t.rejects(stat(c, path), { code }, why)
  await run(writer.request({ type: 'mkdirs', path: { path: '/d/e' }, perm: 0o755, recursive: true }))
  await run(writer.request({ type: 'create', path: { path: '/d/e/f' }, flags: { access: 'write' }, perm: 0o644 }))
  const f = await stat(statter, '/d/e/f')
  t.equal((await stat(aliceStats, '/d/e/f')).id, f.id, 'walk recorded; alice may search')

  await run(writer.request({ type: 'rename', src: { path: '/d/e' }, dst: { path: '/d/moved' } }))
  await refused(statter, '/d/e/f', 'ENOENT', 'a directory renamed away by the other server: gone at once')
  t.equal((await stat(statter, '/d/moved/f')).id, f.id, 'and found under its new name')

  await run(writer.request({ type: 'set-attr', path: { path: '/d' }, attrs: { perm: 0o700 } }))
  await refused(aliceStats, '/d/moved/f', 'EACCES', 'search permission taken from a directory on the path: refused at once')
  t.equal((await stat(statter, '/d/moved/f')).id, f.id, 'root still passes (the check is per caller)')
  await refused(aliceStats, '/d/moved/f', 'EACCES', 'a walk cached by root does not let alice through')
  await run(writer.request({ type: 'set-attr', path: { path: '/d' }, attrs: { perm: 0o755 } }))
  t.equal((await stat(aliceStats, '/d/moved/f')).id, f.id, 'given back: alice passes again')

  await run(writer.request({ type: 'remove', path: { path: '/d/moved' }, recursive: true }))
  await refused(statter, '/d/moved/f', 'ENOENT', 'a removed directory: gone at once')
  await run(writer.request({ type: 'mkdirs', path: { path: '/d/moved' }, perm: 0o755, recursive: false }))
  await run(writer.request({ type: 'create', path: { path: '/d/moved/f' }, flags: { access: 'write' }, perm: 0o644 }))
  const again = await stat(statter, '/d/moved/f')
  t.not(again.id, f.id, 'a directory made anew under the same name: the new file, not the old one')

  await run(writer.request({ type: 'symlink', path: { path: '/d/link' }, target: '/d/moved' }))
  t.equal((await stat(statter, '/d/link/f')).id, again.id, 'through a symlink on the path')
  await run(writer.request({ type: 'mkdirs', path: { path: '/d/other' }, perm: 0o755, recursive: false }))
  await run(writer.request({ type: 'create', path: { path: '/d/other/f' }, flags: { access: 'write' }, perm: 0o644 }))
  const other = await stat(statter, '/d/other/f')
  await run(writer.request({ type: 'remove', path: { path: '/d/link' }, recursive: false }))
  await run(writer.request({ type: 'symlink', path: { path: '/d/link' }, target: '/d/other' }))
  t.equal((await stat(statter, '/d/link/f')).id, other.id, 'a symlink on the path pointed elsewhere: followed anew')
  t.equal((await stat(statter, '/d/other/../moved/f')).id, again.id, '".." on the path')
  t.equal((await stat(statter, '/d//moved/./f')).id, again.id, 'other spellings of the same path')
})
