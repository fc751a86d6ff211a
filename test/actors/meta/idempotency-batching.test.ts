/**
 * Idempotency (a retried request applies once and gets the first answer, refusals included;
 * records expire) and owner batching (concurrent requests for one directory or inode, sent to any
 * server, are forwarded to the owner and merged into few transactions).
 */
import t from 'tap'
import { cleanExpired } from '../../../actors/meta/idempotency.ts'
import { allIdem } from '../../../actors/meta/keys.ts'
import type { MetaStatus } from '../../../actors/meta/protocol.ts'
import { harness, ROOT } from './harness.ts'

t.test('a retried create, remove or rename with the same request id applies once and answers as the first time', async (t) => {
  const h = await harness({ servers: 2 })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  const run = <T>(p: Promise<T>) => h.settle(p)
  await run(c.request({ type: 'mkdirs', path: { path: '/d' }, perm: 0o755, recursive: false }))
  const create = { type: 'create' as const, path: { path: '/d/f' }, flags: { access: 'write' as const, excl: true }, perm: 0o644, requestId: 'create-1' }
  const first = await run(c.request(create))
  const again = await run(c.request(create))
  t.same(again, first, 'O_EXCL create retried: the first answer, not EEXIST')
  await run(c.request({ type: 'remove', path: { path: '/d/f' }, recursive: false, requestId: 'rm-1' }))
  const recreated = await run(c.request({ ...create, requestId: 'create-2' }))
  t.not(recreated.inode.id, first.inode.id)
  t.same(await run(c.request({ type: 'remove', path: { path: '/d/f' }, recursive: false, requestId: 'rm-1' })), { removed: first.inode.id }, 'the old remove retried does not remove the new file')
  t.equal((await run(c.request({ type: 'stat', path: { path: '/d/f' } }))).id, recreated.inode.id)
  await run(c.request({ type: 'rename', src: { path: '/d/f' }, dst: { path: '/d/g' }, requestId: 'mv-1' }))
  t.same(await run(c.request({ type: 'rename', src: { path: '/d/f' }, dst: { path: '/d/g' }, requestId: 'mv-1' })), { inode: recreated.inode.id, replaced: null }, 'a retried rename: the first answer, not ENOENT')
  await t.rejects(run(c.request({ type: 'rename', src: { path: '/d/zz' }, dst: { path: '/d/y' }, requestId: 'mv-2' })), { code: 'ENOENT' })
  await run(c.request({ type: 'create', path: { path: '/d/zz' }, flags: { access: 'write' }, perm: 0o644 }))
  await t.rejects(run(c.request({ type: 'rename', src: { path: '/d/zz' }, dst: { path: '/d/y' }, requestId: 'mv-2' })), { code: 'ENOENT' }, 'a refusal is recorded too: a late retry cannot apply it after the client was told')
  t.equal((await run(c.request({ type: 'stat', path: { path: '/d/zz' } }))).type, 'file', 'and indeed nothing moved')
})

t.test('a commit whose outcome is unknown is retried by the KV, and the record makes it apply once', async (t) => {
  const { openKv } = await import('../../../actors/kv/index.ts')
  const h = await harness()
  t.teardown(() => h.close())
  const flaky = await openKv({ backend: 'memory', clock: h.ts.clock, random: h.ts.random, faults: { commitUnknownResult: 0.5 } })
  const { metaActor } = await import('../../../actors/meta/meta-actor.ts')
  const { ROUTING } = await import('./harness.ts')
  const server = h.ts.spawn(metaActor, { serverId: 9, kv: flaky, routing: ROUTING }) as never
  const { MetaClient } = await import('../../../actors/meta/meta-client.ts')
  const c = new MetaClient({ servers: [server], clientId: 'flaky', user: ROOT, clock: h.ts.clock, random: h.ts.random, maxAttempts: 50 })
  for (let i = 0; i < 20; i++) {
    const made = await h.settle(c.request({ type: 'mkdirs', path: { path: `/m${i}` }, perm: 0o755, recursive: false }))
    t.equal(made.type, 'directory')
  }
  const list = await h.settle(c.request({ type: 'list', path: { path: '/' } }))
  t.equal(list.entries.length, 20, 'each mkdir applied once (a second application would have answered EEXIST)')
  t.ok(flaky.stats.retries > 0, `the KV retried ${flaky.stats.retries} times`)
  await flaky.close()
})

t.test('records expire: cleanup clears the expired ones through the expiry index', async (t) => {
  const h = await harness({ config: { idempotent_record_expire: '1s' } })
  t.teardown(() => h.close())
  const c = h.client(ROOT)
  for (let i = 0; i < 5; i++) await h.settle(c.request({ type: 'mkdirs', path: { path: `/e${i}` }, perm: 0o755, recursive: false }))
  const count = () => h.kv.transact(async (tx) => (await tx.getRange(allIdem.begin, allIdem.end)).length)
  t.equal(await count(), 5)
  t.equal(await cleanExpired(h.kv, h.ts.clock.now(), 100, 1000), 0, 'nothing expired yet')
  t.equal(await cleanExpired(h.kv, h.ts.clock.now() + 1_001, 3, 1000), 3, 'a bounded batch')
  t.equal(await cleanExpired(h.kv, h.ts.clock.now() + 1_001, 100, 1000), 2)
  t.equal(await count(), 0)
})

t.test('concurrent creates in one directory through three servers are forwarded to its owner and batched', async (t) => {
  const h = await harness({ servers: 3 })
  t.teardown(() => h.close())
  const run = <T>(p: Promise<T>) => h.settle(p)
  const setup = h.client(ROOT)
  await run(setup.request({ type: 'mkdirs', path: { path: '/shared' }, perm: 0o777, recursive: false }))
  const clients = Array.from({ length: 16 }, (_, i) => h.client(ROOT, `c${i}`))
  const made = await run(Promise.all(clients.flatMap((c, i) => Array.from({ length: 8 }, (_, j) => c.request({ type: 'create', path: { path: `/shared/f${i}-${j}` }, flags: { access: 'write' }, perm: 0o644 })))))
  t.equal(new Set(made.map((m) => m.inode.id)).size, 128, '128 files, 128 inodes')
  const status = await run(Promise.all(h.servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>)))
  const batched = status.reduce((n, s) => n + s.batchedOps, 0)
  const batches = status.reduce((n, s) => n + s.batches, 0)
  t.equal(batched, 128, 'every create ran in an owner batch')
  t.ok(status.filter((s) => s.batches > 0).length === 1, 'on one server: the directory\'s owner')
  t.ok(status.reduce((n, s) => n + s.forwarded, 0) > 0, 'the others forwarded')
  t.ok(batches <= 128 / 4, `merged into ${batches} transactions`)
  const list = await run(setup.request({ type: 'list', path: { path: '/shared' }, limit: 4096 }))
  t.equal(list.entries.length, 128)
})

t.test('closes of one file from many clients merge into one transaction on the inode\'s owner; the longest hint wins', async (t) => {
  const h = await harness({ servers: 2 })
  t.teardown(() => h.close())
  const run = <T>(p: Promise<T>) => h.settle(p)
  const c = h.client(ROOT)
  const clients = Array.from({ length: 10 }, (_, i) => h.client(ROOT, `w${i}`))
  const f = await run(c.request({ type: 'create', path: { path: '/big' }, flags: { access: 'write' }, perm: 0o644 }))
  await run(Promise.all(clients.map((w, i) => w.request({ type: 'open', path: { path: '/big' }, flags: { access: 'write' }, session: `s${i}` }))))
  const before = await run(Promise.all(h.servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>)))
  const closed = await run(Promise.all(clients.map((w, i) => w.request({ type: 'close', inode: f.inode.id, session: `s${i}`, updateLength: true, lengthHint: { length: (i + 1) * 1000, truncateVer: 0 } }))))
  const after = await run(Promise.all(h.servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>)))
  const batches = after.reduce((n, s) => n + s.batches, 0) - before.reduce((n, s) => n + s.batches, 0)
  t.ok(batches <= 5, `10 closes in ${batches} transactions`)
  const final = await run(c.request({ type: 'stat', inode: f.inode.id }))
  t.equal(final.type === 'file' && final.file.length, 10_000)
  t.ok(closed.every((x) => x.type === 'file' && x.file.length >= 1000))
  const sessions = await run(c.request({ type: 'list-sessions', inode: f.inode.id, user: { ...ROOT, token: 'no' } }).catch((e: { code: string }) => e.code))
  t.equal(sessions, 'EPERM', 'listing sessions needs an admin token')
})
