/**
 * Operations beyond the errno and sim suites: batch stats, O_TRUNC's replace rule, dynamic stripe,
 * layouts inherited and given, the directory's own chain allocation counter, relative symlinks,
 * rename over a file (the replaced one goes to GC), hard links.
 */
import t from 'tap'
import { FS_CHAIN_ALLOCATION_FL } from '../../../actors/meta/inode.ts'
import { harness, ROOT } from './harness.ts'

const layout = (stripeSize: number) => ({ tableId: 1, tableVersion: 0, chunkSizeBytes: 1 << 16, stripeSize, chains: { kind: 'empty' as const } })

t.test('batchStat and batchStatByPath answer many at once, a missing one as null / its errno', async (t) => {
  const h = await harness()
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  const f = await run(c.request({ type: 'create', path: { path: '/f' }, flags: { access: 'write' }, perm: 0o644 }))
  const stats = await run(c.request({ type: 'batch-stat', inodes: [0, f.inode.id, 99_999_999] }))
  t.same(stats.map((s) => s?.id ?? null), [0, f.inode.id, null])
  const byPath = await run(c.request({ type: 'batch-stat-by-path', paths: [{ path: '/f' }, { path: '/nope' }, { path: 'f', at: 0 }] }))
  t.same(byPath.map((s) => ('errno' in s ? s.errno : s.id)), [f.inode.id, 'ENOENT', f.inode.id])
})

t.test('O_TRUNC: a small file says needTruncate; a large one with one link and no session is replaced by a new inode', async (t) => {
  const h = await harness({ config: { otrunc_replace_file_threshold: 100 } })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  const f = await run(c.request({ type: 'create', path: { path: '/big' }, flags: { access: 'write' }, perm: 0o640, session: 's' }))
  await run(c.request({ type: 'close', inode: f.inode.id, session: 's', updateLength: true, lengthHint: { length: 50, truncateVer: 0 } }))
  const small = await run(c.request({ type: 'open', path: { path: '/big' }, flags: { access: 'write', trunc: true } }))
  t.same([small.inode.id, small.needTruncate], [f.inode.id, true], 'below the threshold: the client truncates through storage')
  await run(c.request({ type: 'sync', inode: f.inode.id, updateLength: true, lengthHint: { length: 500, truncateVer: 0 } }))
  const replaced = await run(c.request({ type: 'open', path: { path: '/big' }, flags: { access: 'write', trunc: true } }))
  t.not(replaced.inode.id, f.inode.id, 'a new inode')
  t.same([replaced.needTruncate, replaced.inode.type === 'file' && replaced.inode.file.length, replaced.inode.acl.perm], [false, 0, 0o640])
  t.equal((await run(c.request({ type: 'stat', inode: f.inode.id }))).nlink, 0, 'the old one waits in GC')
})

t.test('layouts: inherited from the directory, given at mkdir or create; dynamic stripe starts at 16 and doubles', async (t) => {
  const h = await harness({ config: { dynamic_stripe: true } })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(c.request({ type: 'mkdirs', path: { path: '/wide' }, perm: 0o755, recursive: false, layout: layout(8) }))
  const f = await run(c.request({ type: 'create', path: { path: '/wide/f' }, flags: { access: 'write' }, perm: 0o644 }))
  t.same(f.inode.type === 'file' && [f.inode.file.layout.stripeSize, f.inode.file.layout.chunkSizeBytes, f.inode.file.dynStripe], [8, 1 << 16, 8], 'inherited; dynStripe min(16, stripe)')
  const g = await run(c.request({ type: 'create', path: { path: '/wide/g' }, flags: { access: 'write' }, perm: 0o644, layout: layout(2) }))
  t.equal(g.inode.type === 'file' && g.inode.file.layout.stripeSize, 2, 'given at create')
  await t.rejects(run(c.request({ type: 'create', path: { path: '/wide/h' }, flags: { access: 'write' }, perm: 0o644, layout: layout(9) })), { code: 'EINVAL', message: /8 chains, fewer than the stripe size 9/ })
  await run(c.request({ type: 'set-attr', path: { path: '/wide' }, attrs: { layout: layout(4) } }))
  const k = await run(c.request({ type: 'create', path: { path: '/wide/k' }, flags: { access: 'write' }, perm: 0o644 }))
  t.equal(k.inode.type === 'file' && k.inode.file.layout.stripeSize, 4, 'set-attr changed what new files inherit')
  const extended = await run(c.request({ type: 'set-attr', inode: k.inode.id, attrs: { extendStripe: true } }))
  t.equal(extended.type === 'file' && extended.file.dynStripe, 4, 'extendStripe doubles, capped at the stripe')
})

t.test('a directory with its own chain allocation counter advances it by the stripe on each create', async (t) => {
  const h = await harness()
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  const dir = await run(c.request({ type: 'mkdirs', path: { path: '/rr' }, perm: 0o755, recursive: false, layout: layout(2) }))
  await run(c.request({ type: 'set-attr', inode: dir.id, attrs: { iflags: FS_CHAIN_ALLOCATION_FL } }))
  const bases: number[] = []
  for (let i = 0; i < 5; i++) {
    const f = await run(c.request({ type: 'create', path: { path: `/rr/f${i}` }, flags: { access: 'write' }, perm: 0o644 }))
    const chains = f.inode.type === 'file' ? f.inode.file.layout.chains : null
    bases.push(chains?.kind === 'range' ? chains.baseIndex : -1)
    t.equal(f.inode.acl.iflags & FS_CHAIN_ALLOCATION_FL, FS_CHAIN_ALLOCATION_FL, 'the flag is inherited')
  }
  t.same(bases, [1, 3, 5, 7, 1], 'round robin over the 8 chains of the table, stripe 2 at a time, from the directory\'s counter')
  const after = await run(c.request({ type: 'stat', inode: dir.id }))
  t.equal(after.type === 'directory' && after.dir.chainAllocCounter, 10)
})

t.test('relative symlinks resolve from their directory; rename over a file replaces it; hard links count', async (t) => {
  const h = await harness()
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(c.request({ type: 'mkdirs', path: { path: '/a/b' }, perm: 0o755, recursive: true }))
  const target = await run(c.request({ type: 'create', path: { path: '/a/b/t' }, flags: { access: 'write' }, perm: 0o644 }))
  await run(c.request({ type: 'symlink', path: { path: '/a/rel' }, target: 'b/t' }))
  t.equal((await run(c.request({ type: 'stat', path: { path: '/a/rel' } }))).id, target.inode.id)
  await run(c.request({ type: 'symlink', path: { path: '/a/b/up' }, target: '../b' }))
  t.equal((await run(c.request({ type: 'stat', path: { path: '/a/b/up/t' } }))).id, target.inode.id, '".." in a symlink target')
  const linked = await run(c.request({ type: 'hard-link', oldPath: { path: '/a/b/t' }, newPath: { path: '/a/t2' } }))
  t.equal(linked.nlink, 2)
  const other = await run(c.request({ type: 'create', path: { path: '/a/other' }, flags: { access: 'write' }, perm: 0o644 }))
  t.same(await run(c.request({ type: 'rename', src: { path: '/a/other' }, dst: { path: '/a/t2' } })), { inode: other.inode.id, replaced: target.inode.id })
  t.equal((await run(c.request({ type: 'stat', path: { path: '/a/b/t' } }))).nlink, 1, 'the replaced link went; the file keeps its other one')
  await t.rejects(run(c.request({ type: 'rename', src: { path: '/a/b/t' }, dst: { path: '/a/t2' }, noReplace: true })), { code: 'EEXIST' })
})
