/**
 * Late pushes (storage-client.ts, read windows): a replica slow to push a read past its reader's
 * timeout (buggify site `replica:slow-push`, on in every run here) must never land in the reader's
 * memory once the read has returned, since the reader then has its buffer back and fills it with
 * other bytes. The reader keeps one long-lived region, as the FileClient's I/O buffers and USRBIO's
 * regions are, and reads 256 KiB ranges into it (pushed: over inlineReadBytesMax). After each read
 * it checks the bytes, fills the region with a marker of its own and checks the marker once more a
 * second later (virtual time), when every slow push of that read has come.
 *
 * Seeds replay with T3FS_SEED=N. The mutant `unfencedPushes` (each attempt pushed straight into the
 * caller's region, with no window to take back) must be caught: a late push overwrites a marker.
 */
import t from 'tap'
import { defineActor, type ActorRef, type Returns } from '../../../runtime/actor.ts'
import type { PooledBuffer } from '../../../runtime/buffer-pool.ts'
import { sleep } from '../../../runtime/clock.ts'
import type { RegionHandle } from '../../../runtime/regions-actor.ts'
import type { MgmtdMsg } from '../../../actors/mgmtd/protocol.ts'
import { makeChunkId, type ChunkId } from '../../../actors/storage/chunk-id.ts'
import { storageClientActor } from '../../../actors/storage/client/client-actor.ts'
import { StorageClient } from '../../../actors/storage/client/storage-client.ts'
import { buildStorageCluster, type StorageCluster } from '../../sim/storage-cluster.ts'

const CHUNK = 256 * 1024
const CHUNKS_PER_CHAIN = 3
const READS = 24
const MARKER = 0xa5
/** The client's request timeout: the slow site delays a push by 100–1000 ms, so most slow pushes outlive their attempt. */
const REQUEST_TIMEOUT_MS = 150

type ReaderMsg =
  | ({ type: 'read'; chainId: number; chunkId: ChunkId } & Returns<{ bytes: Uint8Array; targetId: number }>)
  | ({ type: 'mark' } & Returns<null>)
  | ({ type: 'marked' } & Returns<number>)
  | ({ type: 'retries' } & Returns<number>)

/** A StorageClient reading into one region registered for the actor's life. */
const readerActor = defineActor<{ client: StorageClient; buffer: PooledBuffer; region: RegionHandle }, ReaderMsg, { mgmtds: ActorRef<MgmtdMsg>[]; unfenced: boolean }>({
  kind: 'late-push-reader',
  async init(ctx, args) {
    const client = new StorageClient(ctx as never, { clientId: 'reader', mgmtds: args.mgmtds, requestTimeoutMs: REQUEST_TIMEOUT_MS, retryBudgetMs: 20_000, backoffMinMs: 5, backoffMaxMs: 50, unfencedPushes: args.unfenced })
    const buffer = await ctx.buffers!.allocate(CHUNK, { timeoutMs: 1_000 })
    const region = await ctx.regions!.register(buffer)
    return { client, buffer, region }
  },
  handle(state, msg, ctx) {
    const bytes = state.buffer.bytes.subarray(0, CHUNK)
    switch (msg.type) {
      case 'read': {
        const reply = ctx.deferReply()
        state.client.read({ chainId: msg.chainId, chunkId: msg.chunkId, offset: 0, length: CHUNK, into: { buffer: state.buffer, region: state.region }, intoOffset: 0 })
          // The bytes as they are the moment the read returns.
          .then((r) => reply.resolve({ bytes: bytes.slice(0, r.lengthBytes), targetId: r.targetId }), (e: unknown) => reply.reject(e))
        return
      }
      case 'mark':
        bytes.fill(MARKER)
        return ctx.reply(null)
      case 'marked': {
        let changed = 0
        for (const b of bytes) if (b !== MARKER) changed++
        return ctx.reply(changed)
      }
      case 'retries':
        return ctx.reply(state.client.counters.retries)
    }
  },
})

const content = (chainId: number, index: number): Uint8Array => Uint8Array.from({ length: CHUNK }, (_, i) => (chainId * 31 + index * 7 + i * 13 + (i >> 9)) & 0xff)

interface Outcome { reads: number; overwritten: number; wrong: number; retries: number }

/** One seed: writes the chunks, then reads them one by one through the slow replicas, checking bytes and markers. */
async function scenario(seed: number, unfenced: boolean): Promise<Outcome> {
  const c: StorageCluster = await buildStorageCluster(seed, { minDelayMs: 0.2, maxDelayMs: 2, buggify: { sites: ['replica:slow-push'], fireRate: 0.3 } }, {
    storageNodes: 3, chains: 2, replicas: 3, pool: [{ slotBytes: CHUNK, slots: 64 }],
  })
  const clientNode = c.sim.addNode('client', { bufferPool: { classes: [{ slotBytes: CHUNK, slots: 16 }] } })
  const writer = clientNode.system.spawn(storageClientActor, { clientId: 'writer', mgmtds: c.mgmtds, requestTimeoutMs: 2_000, retryBudgetMs: 20_000 })
  const reader = clientNode.system.spawn(readerActor, { mgmtds: c.mgmtds, unfenced })
  await c.runUntil(() => false, 600)
  const chunks = c.chains.flatMap((chain) => Array.from({ length: CHUNKS_PER_CHAIN }, (_, i) => ({ chainId: chain.chainId, chunkId: makeChunkId(BigInt(700 + chain.chainId), i), data: content(chain.chainId, i) })))
  for (const k of chunks) await c.settle(writer.ask({ type: 'write', chainId: k.chainId, chunkId: k.chunkId, offset: 0, data: k.data, chunkSizeBytes: CHUNK }, { timeoutMs: 30_000 }), c.sim.clock.now() + 30_000)
  const random = c.sim.forkRandom()
  const outcome: Outcome = { reads: 0, overwritten: 0, wrong: 0, retries: 0 }
  for (let n = 0; n < READS; n++) {
    const k = chunks[random.int(chunks.length)]
    const r = await c.settle(reader.ask({ type: 'read', chainId: k.chainId, chunkId: k.chunkId }, { timeoutMs: 60_000 }), c.sim.clock.now() + 60_000)
    outcome.reads++
    if (r.bytes.length !== CHUNK || r.bytes.some((b, i) => b !== k.data[i])) outcome.wrong++
    await c.settle(reader.ask({ type: 'mark' }), c.sim.clock.now() + 1_000)
    // Every push of this read, slow or not, is done or refused within the slow site's 1 s.
    await c.settle(sleep(c.sim.clock, 1_100), c.sim.clock.now() + 2_000)
    if ((await c.settle(reader.ask({ type: 'marked' }), c.sim.clock.now() + 1_000)) > 0) outcome.overwritten++
  }
  outcome.retries = await c.settle(reader.ask({ type: 'retries' }), c.sim.clock.now() + 1_000)
  return outcome
}

const firstSeed = Number(process.env.T3FS_SEED ?? 1)
const seeds = process.env.T3FS_SEED === undefined ? 6 : 1

t.test('a push that comes after its read returned never lands in the reader\'s region', async (t) => {
  let retries = 0
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const o = await scenario(seed, false)
    t.equal(o.wrong, 0, `seed ${seed}: every read returned its chunk's bytes`)
    t.equal(o.overwritten, 0, `seed ${seed}: no marker overwritten after its read returned (T3FS_SEED=${seed} replays)`)
    retries += o.retries
  }
  t.ok(retries > 0, `attempts timed out behind slow pushes and were retried (${retries} retries)`)
})

t.test('the mutant unfencedPushes is caught: a late push overwrites the reader\'s bytes', async (t) => {
  for (let seed = firstSeed; seed < firstSeed + seeds; seed++) {
    const o = await scenario(seed, true)
    if (o.overwritten > 0 || o.wrong > 0) {
      t.pass(`caught at seed ${seed}: ${o.overwritten} of ${o.reads} markers overwritten, ${o.wrong} reads wrong (T3FS_SEED=${seed} replays)`)
      return
    }
  }
  t.fail(`not caught in seeds ${firstSeed}..${firstSeed + seeds - 1}`)
})
