/**
 * Two meta servers on two worker threads over one LMDB environment (as bench:meta and a node of two
 * meta hosts run them): path walks one server cached for a stat never hide what the other server
 * committed and acknowledged — renames, removals, permission changes of a directory on the path.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MetaClient } from '../../../actors/meta/meta-client.ts'
import type { MetaMsg, MetaStatus } from '../../../actors/meta/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { systemClock } from '../../../runtime/clock.ts'
import { NodeRuntime } from '../../../runtime/node-runtime.ts'
import { systemRandom } from '../../../runtime/random.ts'
import { ALICE, ROOT } from './harness.ts'

const LAYOUT = { tableId: 1, tableVersion: 1, chunkSizeBytes: 1 << 20, stripeSize: 1, chains: { kind: 'list', chainIndexes: [1] } }
const ROUNDS = 40

t.test('a stat on one thread sees what the other thread\'s server acknowledged, whatever walks it cached', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 't3fs-walk-threads-'))
  const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
  t.teardown(async () => {
    await runtime.shutdown()
    rmSync(root, { recursive: true, force: true })
  })
  const module = new URL('../../../actors/meta/meta-actor.ts', import.meta.url).href
  const config = { root_layout: LAYOUT, gc_scan_interval: '1h', session_scan_interval: '1h' }
  const servers: ActorRef<MetaMsg>[] = []
  for (const serverId of [1, 2]) servers.push(await runtime.spawn<MetaMsg>({ module, export: 'metaActor' }, { serverId, nodeKv: { backend: 'lmdb', path: join(root, 'kv') }, config }, { host: serverId }))
  for (let i = 0; i < 500 && (await Promise.all(servers.map((s) => s.ask({ type: 'status' }) as Promise<MetaStatus>))).some((s) => s.members.length < 2); i++) await new Promise((r) => setTimeout(r, 10))
  t.equal(new Set(servers.map((s) => s.address.host)).size, 2, 'the servers run on two threads')
  const on = (server: ActorRef<MetaMsg>, user = ROOT) => new MetaClient({ servers: [server], clientId: `c${server.address.host}-${user.uid}`, user, clock: systemClock, random: systemRandom, timeoutMs: 30_000, maxAttempts: 1 })
  const reader = on(servers[0])
  const alice = on(servers[0], ALICE)
  const writer = on(servers[1])
  const stat = (c: MetaClient, path: string) => c.request({ type: 'stat', path: { path } })
  const code = (p: Promise<unknown>) => p.then(() => 'ok', (error: { code?: string }) => error.code ?? String(error))
  const seen: Record<string, number> = {}
  const note = (what: string, got: string, want: string) => {
    const key = `${what}: ${got}${got === want ? '' : ` (expected ${want})`}`
    seen[key] = (seen[key] ?? 0) + 1
  }
  for (let i = 0; i < ROUNDS; i++) {
    await writer.request({ type: 'mkdirs', path: { path: `/r${i}/sub` }, perm: 0o755, recursive: true })
    await writer.request({ type: 'create', path: { path: `/r${i}/sub/f` }, flags: { access: 'write' }, perm: 0o644 })
    note('created, stat on the other thread', await code(stat(reader, `/r${i}/sub/f`)), 'ok')
    note('alice too', await code(stat(alice, `/r${i}/sub/f`)), 'ok')
    await writer.request({ type: 'rename', src: { path: `/r${i}/sub` }, dst: { path: `/r${i}/moved` } })
    note('directory renamed away, old path', await code(stat(reader, `/r${i}/sub/f`)), 'ENOENT')
    note('new path', await code(stat(reader, `/r${i}/moved/f`)), 'ok')
    await writer.request({ type: 'set-attr', path: { path: `/r${i}` }, attrs: { perm: 0o700 } })
    note('search permission taken away', await code(stat(alice, `/r${i}/moved/f`)), 'EACCES')
    await writer.request({ type: 'remove', path: { path: `/r${i}/moved/f` }, recursive: false })
    note('file removed', await code(stat(reader, `/r${i}/moved/f`)), 'ENOENT')
  }
  const wrong = Object.keys(seen).filter((k) => k.includes('expected'))
  t.same(wrong, [], `every stat saw the acknowledged change (${ROUNDS} rounds): ${JSON.stringify(seen)}`)
})
