/**
 * Meta servers for actor-level tests: a TestSystem on virtual time, one memory KV, N meta actors
 * (server ids 1..N) over it with a fixed chain table, and clients as users. `settle` drives virtual
 * time until a promise settles, so tests read like plain async code.
 */
import { openKv, type Kv } from '../../../actors/kv/index.ts'
import { metaActor, type MetaArgs } from '../../../actors/meta/meta-actor.ts'
import { MetaClient } from '../../../actors/meta/meta-client.ts'
import type { MetaMsg, UserInfo } from '../../../actors/meta/protocol.ts'
import { staticRouting } from '../../../actors/meta/routing-view.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import { TestSystem } from '../../../runtime/testkit/test-system.ts'

export const ROOT: UserInfo = { uid: 0, gid: 0 }
export const ALICE: UserInfo = { uid: 1000, gid: 100, groups: [100] }
export const BOB: UserInfo = { uid: 1001, gid: 101, groups: [101] }

/** Chain table 1: chains 101..108. */
export const ROUTING = staticRouting([{ tableId: 1, version: 1, chains: [101, 102, 103, 104, 105, 106, 107, 108] }])

export interface Harness {
  ts: TestSystem
  kv: Kv
  servers: ActorRef<MetaMsg>[]
  client(user?: UserInfo, clientId?: string): MetaClient
  settle<T>(work: Promise<T>): Promise<T>
  close(): Promise<void>
}

/** `serverKv`: what the servers get instead of the KV itself (a wrapper that observes it). */
export async function harness(options: { servers?: number; args?: Partial<MetaArgs>; config?: Record<string, unknown>; seed?: number; serverKv?: (kv: Kv) => Kv } = {}): Promise<Harness> {
  const ts = new TestSystem({ seed: options.seed ?? 1 })
  const kv = await openKv({ backend: 'memory', clock: ts.clock, random: ts.random })
  const serverKv = options.serverKv?.(kv) ?? kv
  const servers = Array.from({ length: options.servers ?? 1 }, (_, i) =>
    ts.spawn(metaActor, { serverId: i + 1, kv: serverKv, routing: ROUTING, config: { gc_scan_interval: '1h', ...options.config }, ...options.args }, { name: `meta${i + 1}` }) as unknown as ActorRef<MetaMsg>,
  )
  const settle = async <T>(work: Promise<T>): Promise<T> => {
    let done = false
    const watched = work.finally(() => { done = true })
    watched.catch(() => undefined)
    for (let i = 0; i < 100_000 && !done; i++) await ts.advance(1)
    return watched
  }
  let n = 0
  const client = (user: UserInfo = ROOT, clientId = `client-${++n}`) => new MetaClient({ servers, clientId, user, clock: ts.clock, random: ts.random, maxAttempts: 3 })
  return { ts, kv, servers, client, settle, close: async () => { ts.shutdown(); await kv.close() } }
}
