/**
 * The storage client's read batching (actors/storage/client/read-batcher.ts), with the batches
 * answered by this test instead of a node: small reads leave one batch at a time per node; large
 * reads (pushed by the replica) leave in batches of at most batchBytesMax, a few in flight at once,
 * so a node reads from disk while it sends; every read settles with its own answer.
 */
import t from 'tap'
import { batchBytesMax, bulkBatchesInFlightMax, ReadBatcher, readBatchMax, type BatchAnswer, type ReadDestination } from '../../../actors/storage/client/read-batcher.ts'
import type { ReadIO } from '../../../actors/storage/protocol.ts'
import type { ActorRef } from '../../../runtime/actor.ts'
import type { ChunkId, StorageNodeMsg } from '../../../actors/storage/protocol.ts'

const KiB = 1024
const MiB = 1024 * KiB

interface Sent { ios: ReadIO[]; answer(): void }

function setup(): { batcher: ReadBatcher; sent: Sent[]; inFlight: () => number } {
  const sent: Sent[] = []
  let open = 0
  const batcher = new ReadBatcher((_destination, _targets, ios) => new Promise<BatchAnswer>((resolve) => {
    open++
    // Each read answers with its own length and its offset as the version, so the test sees whose answer it got.
    sent.push({ ios, answer: () => { open--; resolve({ kind: 'results', results: ios.map((io) => ({ ok: true as const, lengthBytes: io.length, commitVersion: io.offset, chunkChecksum: 0 })) }) } })
  }))
  return { batcher, sent, inFlight: () => open }
}

const node: ReadDestination = { kind: 'node', key: 7, node: null as unknown as ActorRef<StorageNodeMsg> }
const io = (offset: number, length: number): ReadIO => ({ key: { chainId: 1, chainVersion: 1, chunkId: 'c'.repeat(32) as unknown as ChunkId }, offset, length, into: { kind: 'none' } })
const ticks = async (n = 20): Promise<void> => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)) }

t.test('small reads: one batch in flight per node; reads issued meanwhile leave together when it is answered', async (t) => {
  const { batcher, sent, inFlight } = setup()
  const first = Array.from({ length: 20 }, (_, i) => batcher.read(node, 1, io(i, 4 * KiB)))
  await ticks()
  t.equal(sent.length, 1, 'twenty reads issued together leave as one batch')
  t.equal(sent[0].ios.length, 20)
  const second = Array.from({ length: 30 }, (_, i) => batcher.read(node, 1, io(100 + i, 4 * KiB)))
  await ticks()
  t.equal(inFlight(), 1, 'reads issued while a batch of small reads is in flight wait for it')
  sent[0].answer()
  t.same((await Promise.all(first)).map((r) => r.ok && r.commitVersion), Array.from({ length: 20 }, (_, i) => i), 'each read gets its own answer')
  await ticks()
  t.equal(sent.length, 2)
  t.equal(sent[1].ios.length, 30, 'the waiting reads left together')
  sent[1].answer()
  await Promise.all(second)
  t.ok(readBatchMax * 4 * KiB <= batchBytesMax, 'a full batch of 4 KiB reads is never split by bytes')
})

t.test('large reads: batches of at most batchBytesMax, several in flight at once per node', async (t) => {
  const { batcher, sent, inFlight } = setup()
  // Two batches' worth more than the cap allows at once: some must wait for a batch to come back.
  const count = ((bulkBatchesInFlightMax + 2) * batchBytesMax) / MiB
  const reads = Array.from({ length: count }, (_, i) => batcher.read(node, 1, io(i * MiB, MiB)))
  await ticks()
  t.ok(sent.length >= 2, `${count} reads of 1 MiB leave in several batches (${sent.length})`)
  t.equal(inFlight(), bulkBatchesInFlightMax, `${bulkBatchesInFlightMax} batches in flight at once`)
  for (const b of sent) t.ok(b.ios.reduce((a, x) => a + x.length, 0) <= batchBytesMax, 'each at most batchBytesMax')
  // Answer batches as they come until all reads are done: none is lost or answered twice.
  let answered = 0
  while (answered < sent.length) {
    sent[answered++].answer()
    await ticks()
    t.ok(inFlight() <= bulkBatchesInFlightMax)
  }
  const results = await Promise.all(reads)
  t.same(results.map((r) => r.ok && r.commitVersion), Array.from({ length: count }, (_, i) => i * MiB), 'every read settles with its own answer')
  t.equal(sent.reduce((a, b) => a + b.ios.length, 0), count, 'each read was sent once')
  const big = batcher.read(node, 1, io(0, 2 * batchBytesMax))
  await ticks()
  t.equal(sent.at(-1)!.ios.length, 1, 'a read over batchBytesMax still leaves, alone')
  sent.at(-1)!.answer()
  await big
})
