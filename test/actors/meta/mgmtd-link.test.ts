/**
 * meta with a real mgmtd: chain tables come from mgmtd's routing info (files get concrete layouts
 * on its tables), and the sessions of clients whose mgmtd client session expired are pruned.
 */
import t from 'tap'
import { openKv } from '../../../actors/kv/index.ts'
import { metaActor } from '../../../actors/meta/meta-actor.ts'
import { MetaClient } from '../../../actors/meta/meta-client.ts'
import type { MetaMsg } from '../../../actors/meta/protocol.ts'
import { mgmtdActor } from '../../../actors/mgmtd/mgmtd-actor.ts'
import type { MgmtdMsg } from '../../../actors/mgmtd/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { TestSystem } from '../../../runtime/testkit/test-system.ts'

t.test('layouts from mgmtd\'s chain tables; sessions of clients mgmtd dropped are pruned', async (t) => {
  const ts = new TestSystem({ seed: 3 })
  const kv = await openKv({ backend: 'memory', clock: ts.clock, random: ts.random })
  t.teardown(async () => { ts.shutdown(); await kv.close() })
  const mgmtd = ts.spawn(mgmtdActor, { nodeId: 1, kv, config: { leaseLengthMs: 2_000, extendLeaseIntervalMs: 500, clientSessionTimeoutMs: 3_000, checkStatusIntervalMs: 200 } }) as unknown as ActorRef<MgmtdMsg>
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    let done = false
    const w = p.finally(() => { done = true })
    w.catch(() => undefined)
    for (let i = 0; i < 100_000 && !done; i++) await ts.advance(5)
    return w
  }
  for (let i = 0; i < 100 && !(await settle(mgmtd.ask({ type: 'status' }))).primary; i++) await ts.advance(50)
  await settle(mgmtd.ask({ type: 'set-chains', chains: [1, 2, 3, 4].map((c) => ({ chainId: c, targets: [100 + c] })) }))
  await settle(mgmtd.ask({ type: 'set-chain-table', tableId: 1, chains: [1, 2, 3, 4] }))
  const meta = ts.spawn(metaActor, { serverId: 1, kv, mgmtd, config: { routing_refresh_interval: '100ms', session_scan_interval: '200ms', session_prune_grace: '100ms', gc_scan_interval: '1h' } }) as unknown as ActorRef<MetaMsg>
  const client = (id: string) => new MetaClient({ servers: [meta], clientId: id, user: { uid: 0, gid: 0 }, clock: ts.clock, random: ts.random })
  await ts.advance(300)
  const f = await settle(client('keeps').request({ type: 'create', path: { path: '/f' }, flags: { access: 'write' }, perm: 0o644, session: 'k1' }))
  t.match(f.inode.type === 'file' && f.inode.file.layout, { tableId: 1, tableVersion: 1, chains: { kind: 'range' } }, 'a concrete layout on mgmtd\'s table 1 version 1')
  await settle(client('drops').request({ type: 'open', path: { path: '/f' }, flags: { access: 'write' }, session: 'd1' }))
  const extend = (id: string) => settle(mgmtd.ask({ type: 'extend-client-session', clientId: id }))
  await extend('keeps')
  await extend('drops')
  const sessions = async () => (await settle(meta.ask({ type: 'list-sessions', user: { uid: 0, gid: 0, token: 'admin-token-xyz' }, clientId: 'a', requestId: `l${ts.clock.now()}` }).catch((e: { code: string }) => e.code)))
  t.equal(await sessions(), 'EPERM', 'listing needs an admin token (none configured here)')
  for (let i = 0; i < 12; i++) {
    await extend('keeps') // only one client keeps its mgmtd session alive
    await ts.advance(500)
  }
  const { sessionsOf } = await import('../../../actors/meta/sessions.ts')
  const open = await kv.transact((tx) => sessionsOf(tx, f.inode.id, 10))
  t.same(open.map((s) => [s.sessionId, s.clientId]), [['k1', 'keeps']], 'the dropped client\'s session was pruned, the live client\'s kept')
})
