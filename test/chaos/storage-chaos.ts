/**
 * `npm run chaos -- storage [--kills N] [--writers N]` (issue 10, Proof): real processes from
 * `t3fs launch` (mgmtd and three storage nodes, chains of three), writers on loopback writing
 * block-tagged ranges of 64 KiB chunks, and kill -9 of a random storage node at least N times
 * while they write (each time on a healthy cluster), then a restart from the same profile.
 * Afterwards every chunk is read back from every replica: replicas must hold the same bytes, every
 * block must carry an intact pattern (its checksum), and no block may hold a value older than an
 * acknowledged write. Ends with one JSON line
 * {"chaos":"storage","kills":…,"acknowledged":…,"lost":0,"corrupt":0,…}.
 */
import { makeChunkId, type ChunkId } from '../../actors/storage/chunk-id.ts'
import type { ClientActorMsg } from '../../actors/storage/client/client-actor.ts'
import type { ReplicaMsg, ReadResult } from '../../actors/storage/protocol.ts'
import type { ActorRef } from '../../runtime/actor.ts'
import { blockBytes, StorageHistory } from '../sim/storage-history.ts'
import { sleepMs, startProcessCluster, type ProcessCluster } from '../support/storage-processes.ts'

export const chunkSizeBytes = 64 * 1024
const blocksPerChunk = chunkSizeBytes / blockBytes
const chunksPerChain = 8

export interface ChaosOptions {
  kills: number
  writers: number
  log: (line: string) => void
}

export interface ChaosResult {
  chaos: 'storage'
  kills: number
  acknowledged: number
  indeterminate: number
  lost: number
  corrupt: number
  /** Reads during the kills that returned stale or corrupt data. */
  badReads: number
  reads: number
  blocksChecked: number
  seconds: number
}

export interface Writer {
  history: StorageHistory
  running: boolean
  errors: string[]
  /** Reads during the run that returned a value older than an acknowledged write, or bytes no write produced. */
  badReads: string[]
}

export async function runStorageChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now()
  const cluster = await startProcessCluster({ storageNodes: 3, chains: 4, chunkSizeBytes, log: options.log })
  try {
    await cluster.allServing(120_000)
    const history = new StorageHistory(() => performance.now())
    const chunks = cluster.chains.flatMap((c) => Array.from({ length: chunksPerChain }, (_, i) => ({ chainId: c.chainId, chunkId: makeChunkId(BigInt(7000 + c.chainId), i) })))
    const w: Writer = { history, running: true, errors: [], badReads: [] }
    const clients = Array.from({ length: options.writers }, () => cluster.storageClient({ requestTimeoutMs: 3_000, retryBudgetMs: 60_000 }))
    await sleepMs(500)
    const loops = clients.flatMap((client) => [...[0, 1, 2].map(() => writeLoop(w, client, chunks)), readLoop(w, client, chunks)])
    let kills = 0
    for (; kills < options.kills; kills++) {
      await cluster.allServing(120_000)
      await sleepMs(1_000 + Math.random() * 2_000)
      const victim = cluster.storageNodeIds[Math.floor(Math.random() * cluster.storageNodeIds.length)]
      cluster.kill(victim)
      await sleepMs(500 + Math.random() * 2_500)
      await cluster.launch(victim)
      options.log(`kill ${kills + 1}/${options.kills}: node ${victim}; ${history.counts.acked} writes acknowledged so far`)
    }
    await cluster.allServing(120_000)
    await sleepMs(1_000)
    w.running = false
    await Promise.all(loops)
    for (const bad of w.badReads.slice(0, 3)) options.log(`bad read: ${bad}`)
    const routing = await cluster.allServing(120_000)
    const verdict = await verify(cluster, routing, chunks, history)
    return {
      chaos: 'storage', kills, acknowledged: history.counts.acked, indeterminate: history.counts.indeterminate,
      lost: verdict.lost, corrupt: verdict.corrupt, badReads: w.badReads.length, reads: history.counts.reads, blocksChecked: verdict.blocks, seconds: (Date.now() - started) / 1000,
    }
  } finally {
    await cluster.close()
  }
}

/** Reads checked as they complete: the last acknowledged value of each block or a later one. */
export async function readLoop(w: Writer, client: ActorRef<ClientActorMsg>, chunks: { chainId: number; chunkId: ChunkId }[]): Promise<void> {
  while (w.running) {
    const { chainId, chunkId } = chunks[Math.floor(Math.random() * chunks.length)]
    const first = Math.floor(Math.random() * blocksPerChunk)
    const count = 1 + Math.floor(Math.random() * Math.min(4, blocksPerChunk - first))
    const invokeMs = performance.now()
    const r = await client.ask({ type: 'read', chainId, chunkId, offset: first * blockBytes, length: count * blockBytes }, { timeoutMs: 120_000 }).catch(() => null)
    if (r === null) continue
    const bytes = new Uint8Array(count * blockBytes)
    bytes.set(r.bytes.subarray(0, Math.min(r.bytes.length, bytes.length)))
    try {
      w.history.checkRead(chainId, chunkId, first, bytes, count, invokeMs, `read from target ${r.targetId}`)
    } catch (error) {
      if (w.badReads.length < 1_000) w.badReads.push((error as Error).message)
    }
  }
}

export async function writeLoop(w: Writer, client: ActorRef<ClientActorMsg>, chunks: { chainId: number; chunkId: ChunkId }[]): Promise<void> {
  while (w.running) {
    const { chainId, chunkId } = chunks[Math.floor(Math.random() * chunks.length)]
    const first = Math.floor(Math.random() * blocksPerChunk)
    const count = 1 + Math.floor(Math.random() * Math.min(4, blocksPerChunk - first))
    const { writeId, data } = w.history.beginWrite(chainId, chunkId, first, count)
    const acked = await client.ask({ type: 'write', chainId, chunkId, offset: first * blockBytes, data, chunkSizeBytes }, { timeoutMs: 120_000 }).then(() => true, (e: Error) => {
      if (w.errors.length < 5) w.errors.push(e.message)
      return false
    })
    w.history.endWrite(chainId, chunkId, first, count, writeId, acked)
  }
}

/** Reads every chunk from every replica: same bytes everywhere, intact blocks, nothing older than an acknowledged write. */
export async function verify(cluster: ProcessCluster, routing: Awaited<ReturnType<ProcessCluster['routing']>>, chunks: { chainId: number; chunkId: ChunkId }[], history: StorageHistory): Promise<{ lost: number; corrupt: number; blocks: number }> {
  let lost = 0
  let corrupt = 0
  let blocks = 0
  for (const { chainId, chunkId } of chunks) {
    const chain = routing.chains.find((c) => c.chainId === chainId)!
    let reference: Uint8Array | null = null
    for (const member of chain.targets) {
      const address = routing.targets.find((t) => t.targetId === member.targetId)!.address!
      const replica = cluster.client.system.refFor<ReplicaMsg>(address)
      const [r] = await replica.ask({ type: 'batch-read', ios: [{ key: { chainId, chainVersion: chain.chainVersion, chunkId }, offset: 0, length: chunkSizeBytes, into: { kind: 'none' } }] }, { timeoutMs: 10_000 }) as ReadResult[]
      const bytes = new Uint8Array(chunkSizeBytes)
      if (r.ok && r.data !== undefined) bytes.set((r.data instanceof Uint8Array ? r.data : r.data.bytes).subarray(0, r.lengthBytes))
      else if (!r.ok && r.code !== 'ERR_STORAGE_CHUNK_NOT_FOUND') throw new Error(`reading chunk ${chunkId} from target ${member.targetId}: ${r.code} ${r.message}`)
      if (reference !== null && Buffer.compare(reference, bytes) !== 0) corrupt++
      reference ??= bytes
      for (let b = 0; b < blocksPerChunk; b++) {
        blocks++
        const slice = bytes.subarray(b * blockBytes, (b + 1) * blockBytes)
        try {
          history.checkRead(chainId, chunkId, b, slice, 1, performance.now(), `final read of target ${member.targetId}`)
        } catch (error) {
          // A block no write produced (the pattern is its checksum) is corrupt; one older than an acknowledged write is lost.
          if (/corrupt|never wrote/.test((error as Error).message)) corrupt++
          else lost++
        }
      }
    }
  }
  return { lost, corrupt, blocks }
}
