/**
 * npm run example:kvcache — a model's KV blocks stored on t3fs and reloaded by a later request.
 *
 * A synthetic decoder (4 layers, 8 KV heads of 64 dims, fp16) prefills a 512-token prompt in
 * blocks of 16 tokens; each block's K and V tensors for every layer go into the cache under the
 * block's prefix hash (SHA-256 of the previous block's key and this block's tokens, as prefix
 * caching in inference servers does, so a key names the whole prefix up to it). A second request
 * shares the first 320 tokens: it finds the longest cached prefix with batchGet, reloads those
 * blocks, checks each against the tensors the model would compute (SHA-256), and computes only
 * the rest. Then a fresh client (a restarted server) reloads the same blocks.
 *
 * Cluster: $T3FS_MGMTD (e.g. 127.0.0.1:9000 of `npm start`) when set, else a cluster of launched
 * processes on temp dirs started here for the run.
 */
import { createHash } from 'node:crypto'
import { connectFileClient } from '../actors/client/client-node.ts'
import type { FileClient } from '../actors/client/file-client.ts'
import { openKvCache } from '../actors/kvcache/index.ts'
import { startProcessFs, type ProcessFs } from '../test/actors/client/process-fs.ts'
import { untilMetaReady } from '../test/actors/kvcache/meta-ready.ts'

const model = { layers: 4, kvHeads: 8, headDim: 64, blockTokens: 16 }
const bytesPerBlock = 2 * model.layers * model.kvHeads * model.headDim * model.blockTokens * 2 // K and V, fp16

/** The KV tensors a block's tokens produce (deterministic stand-ins for a real forward pass). */
function computeBlock(prefixKey: string, tokens: readonly number[]): Buffer {
  const out = Buffer.alloc(bytesPerBlock)
  let seed = Number.parseInt(prefixKey.slice(0, 8), 16) ^ tokens.length
  for (let i = 0; i < out.length; i += 2) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0
    out.writeUInt16LE(seed >>> 16, i)
  }
  return out
}

function blockKeys(tokens: readonly number[]): { key: string; tokens: number[] }[] {
  const out: { key: string; tokens: number[] }[] = []
  let previous = 'root'
  for (let at = 0; at + model.blockTokens <= tokens.length; at += model.blockTokens) {
    const slice = tokens.slice(at, at + model.blockTokens)
    previous = createHash('sha256').update(previous).update(Int32Array.from(slice)).digest('hex')
    out.push({ key: previous, tokens: slice })
  }
  return out
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function run(connect: () => Promise<FileClient>): Promise<void> {
  const prompt = Array.from({ length: 512 }, (_, i) => (i * 7919) % 32_000)
  const second = [...prompt.slice(0, 320), ...Array.from({ length: 192 }, (_, i) => (i * 104_729) % 32_000)]
  const fs = await connect()
  const cache = await openKvCache(fs, { root: '/example-kvcache', capacityBytes: 256 * 1024 * 1024, ttlMs: 3_600_000 })
  const first = blockKeys(prompt)
  for (const b of first) await cache.put(b.key, computeBlock(b.key, b.tokens))
  console.log(`request 1: prefilled ${prompt.length} tokens, stored ${first.length} blocks of ${bytesPerBlock / 1024} KiB`)

  const wanted = blockKeys(second)
  const found = await cache.batchGet(wanted.map((b) => b.key))
  const hit = found.findIndex((b) => b === null)
  const cached = hit === -1 ? found.length : hit
  let ok = cached === 320 / model.blockTokens
  for (let i = 0; i < cached; i++) ok &&= sha(found[i]!) === sha(computeBlock(wanted[i].key, wanted[i].tokens))
  console.log(`request 2: ${cached} of ${wanted.length} blocks reloaded from t3fs (${cached * model.blockTokens} tokens not recomputed), checked by SHA-256: ${ok}`)
  await cache.close()
  await fs.shutdown()

  const fs2 = await connect()
  const restarted = await openKvCache(fs2, { root: '/example-kvcache' })
  let same = restarted.stats().blocks === first.length
  for (const b of first) same &&= sha((await restarted.get(b.key)) ?? new Uint8Array()) === sha(computeBlock(b.key, b.tokens))
  console.log(`after a client restart: ${restarted.stats().blocks} blocks listed, every block reloads identical: ${same}`)
  await restarted.close()
  await fs2.shutdown()
  if (!ok || !same) process.exitCode = 1
}

const mgmtd = process.env.T3FS_MGMTD
let cluster: ProcessFs | null = null
try {
  if (mgmtd === undefined) {
    cluster = await startProcessFs()
    const probe = await cluster.connect()
    await untilMetaReady(probe)
    await probe.shutdown()
  }
  const c = cluster
  await run(() => (c === null ? connectFileClient({ mgmtd }) : c.connect()))
} finally {
  await cluster?.close()
}
