import t from 'tap'
import { chmodAcl, newEntryAcl, canAccess, R_OK, W_OK, X_OK } from '../../../actors/meta/permissions.ts'
import { S_ISGID } from '../../../actors/meta/inode.ts'
import { harness, ALICE, BOB, ROOT } from './harness.ts'

t.test('permission bits: owner, then group (supplementary too), then other; root passes', async (t) => {
  const acl = { uid: 1000, gid: 100, perm: 0o750, iflags: 0 }
  t.ok(canAccess(acl, ALICE, R_OK | W_OK | X_OK))
  t.ok(canAccess(acl, { uid: 5, gid: 9, groups: [100] }, R_OK | X_OK))
  t.notOk(canAccess(acl, { uid: 5, gid: 9, groups: [100] }, W_OK))
  t.notOk(canAccess(acl, BOB, R_OK))
  t.ok(canAccess(acl, ROOT, R_OK | W_OK | X_OK))
  t.notOk(canAccess({ ...acl, perm: 0o070 }, ALICE, R_OK), 'the owner class applies even when group would allow')
})

t.test('setgid directories pass their group down (and setgid to subdirectories); chmod clears setgid outside the group', async (t) => {
  const dir = { uid: 0, gid: 500, perm: 0o2775, iflags: 0 }
  t.same(newEntryAcl(ALICE, 0o644, dir, false, 0), { uid: 1000, gid: 500, perm: 0o644, iflags: 0 })
  t.equal(newEntryAcl(ALICE, 0o755, dir, true, 0).perm & S_ISGID, S_ISGID)
  t.equal(newEntryAcl(ALICE, 0o644, { ...dir, perm: 0o755 }, false, 0).gid, 100, 'without setgid: the caller\'s group')
  t.equal(chmodAcl({ uid: 1000, gid: 500, perm: 0o644, iflags: 0 }, ALICE, 0o2755, 'f').perm, 0o755, 'alice is not in group 500')
  t.equal(chmodAcl({ uid: 1000, gid: 100, perm: 0o644, iflags: 0 }, ALICE, 0o2755, 'f').perm, 0o2755)
})

t.test('files created in a setgid directory on a live server take its group', async (t) => {
  const h = await harness()
  t.teardown(() => h.close())
  const root = h.client(ROOT)
  await h.settle(root.request({ type: 'mkdirs', path: { path: '/team' }, perm: 0o2777, recursive: false }))
  await h.settle(root.request({ type: 'set-attr', path: { path: '/team' }, attrs: { gid: 500 } }))
  const f = await h.settle(h.client(ALICE).request({ type: 'create', path: { path: '/team/f' }, flags: { access: 'write' }, perm: 0o640 }))
  t.same([f.inode.acl.uid, f.inode.acl.gid], [1000, 500])
  const d = await h.settle(h.client(ALICE).request({ type: 'mkdirs', path: { path: '/team/sub' }, perm: 0o750, recursive: false }))
  t.equal(d.acl.perm & S_ISGID, S_ISGID)
  const p = await h.settle(h.client(ALICE).request({ type: 'get-real-path', path: { path: '/team/sub/../f' } }))
  t.equal(p, '/team/f', 'getRealPath walks ".." and names the file')
})

t.test('POSIX locks: ranges split and merge per owner; read locks share; flock and fcntl locks do not interact; release by owner', async (t) => {
  const h = await harness()
  t.teardown(() => h.close())
  const a = h.client(ROOT, 'A')
  const b = h.client(ROOT, 'B')
  const run = <T>(p: Promise<T>) => h.settle(p)
  const f = (await run(a.request({ type: 'create', path: { path: '/l' }, flags: { access: 'write' }, perm: 0o644 }))).inode.id
  const lock = (c: typeof a, owner: string, type: 'read' | 'write' | 'unlock', start: number, end: number, kind: 'posix' | 'flock' = 'posix') => run(c.request({ type: 'lock', inode: f, kind, owner, lock: type, start, end }))
  const probe = (c: typeof a, owner: string, type: 'read' | 'write', start: number, end: number) => run(c.request({ type: 'get-lock', inode: f, kind: 'posix', owner, lock: type, start, end }))
  await lock(a, 'p', 'read', 0, 100)
  await lock(b, 'q', 'read', 50, 150)
  t.equal(await probe(b, 'q', 'read', 0, 100), null, 'read locks share')
  t.match(await probe(b, 'q', 'write', 0, 10), { clientId: 'A', owner: 'p', type: 'read', start: 0, end: 100 }, 'F_GETLK names the holder')
  await lock(a, 'p', 'unlock', 40, 60)
  t.equal(await probe(b, 'q', 'write', 40, 50), null, 'an unlock in the middle splits the range')
  t.not(await probe(b, 'q', 'write', 30, 41), null)
  await lock(a, 'p', 'write', 100, 120).catch((e: { code: string }) => t.equal(e.code, 'EAGAIN', 'write over B\'s read refused'))
  await lock(a, 'fh-a', 'write', 0, 1, 'flock').catch(() => t.fail('flock does not see fcntl locks'))
  await t.rejects(lock(b, 'fh', 'read', 0, 1, 'flock'), { code: 'EAGAIN' }, 'but flocks see each other')
  t.same(await run(a.request({ type: 'release-locks', inode: f, owner: 'p' })), { released: 1 })
  t.equal(await probe(b, 'q', 'write', 0, 40), null, 'A\'s fcntl locks are gone')
  t.same(await run(a.request({ type: 'release-locks', inode: f })), { released: 1 }, 'then the flock')
})
