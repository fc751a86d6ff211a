/**
 * npm run bench:actors — cross-host tell throughput and ask round trips of the actor runtime, beside
 * the limits measured in the same run. Ends with one JSON line. Options: --runs N (default 5;
 * medians of per-run figures and ratios are reported), --count N.
 *
 * What each side does:
 * - actor tell: a source actor on host 1 tells a sink actor on host 2 { type, seq, payload: a
 *   64-byte Uint8Array } `count` times through the runtime (encode per message, batches of 256
 *   envelopes published once with a doorbell ring only when the receiver sleeps, the receiving host
 *   decoding in place, 32 batches per turn, a 50 µs poll before it sleeps, mailbox delivery, the
 *   sink's handler); it waits only when the link pushes back.
 * - ring-record / ring-batch: the same ring code between two worker threads moving raw 64-byte
 *   messages with the host links' own batching, turn and poll-before-sleep policy (see
 *   fixtures/baseline-worker.ts); ring-record frames every message as its own ring record,
 *   ring-batch frames each batch of 256 as one record, as the host links do. No encoding, routing,
 *   mailbox or handler: the limit the runtime's cross-host path is held against.
 * - postMessage: MessagePort.postMessage of a small object with the same 64 bytes, Node's
 *   built-in alternative to the ring.
 * - ask: sequential round trips host 1 <-> host 2, p50 and p99.
 * Progress (which run and side) goes to stderr; stdout ends with the JSON line.
 */
import { MessageChannel, type Transferable, type Worker } from 'node:worker_threads'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { NodeRuntime, startWorker } from '../runtime/node-runtime.ts'
import { ringBytesDefault } from '../runtime/host-mesh.ts'
import { allocateRing, Doorbell } from '../runtime/spsc-ring.ts'
import { Progress } from '../runtime/progress/progress.ts'
import type { PingMsg, SinkMsg, SourceMsg } from './fixtures/actor-bench-actors.ts'

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, count: { type: 'string', default: '2000000' } } })
const runs = Number(values.runs)
const count = Number(values.count)
if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(count) || count < 1000) {
  console.error('usage: npm run bench:actors -- [--runs N>=1] [--count N>=1000]')
  process.exit(2)
}

const fixtures = new URL('./fixtures/actor-bench-actors.ts', import.meta.url).href
const baselineWorker = new URL('./fixtures/baseline-worker.ts', import.meta.url)

async function pair(
  a: Record<string, unknown>,
  b: Record<string, unknown>,
  transferA: Transferable[] = [],
  transferB: Transferable[] = [],
  messages = count,
  expectedResult?: number,
): Promise<number> {
  const workers: Worker[] = [startWorker(baselineWorker, a, transferA), startWorker(baselineWorker, b, transferB)]
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))))
  const done = workers.map((w) => new Promise<{ start: number; end: number; result: number }>((resolve) => w.once('message', resolve)))
  for (const w of workers) w.postMessage('go')
  const [p, c] = await Promise.all(done)
  await Promise.all(workers.map((w) => w.terminate()))
  if (expectedResult !== undefined && c.result !== expectedResult) throw new Error(`${b.role} ended with ${c.result}, expected ${expectedResult}`)
  // Worker clocks share the process's time origin, so spans compare directly.
  return messages / ((Math.max(p.end, c.end) - Math.min(p.start, c.start)) / 1000)
}

/** The consumer's checksum: the low byte of every sequence number, summed as int32. */
function ringChecksum(n: number): number {
  let sum = 0
  for (let seq = 0; seq < n; seq++) sum = (sum + (seq & 0xff)) | 0
  return sum
}

async function rawRing(framing: 'record' | 'batch'): Promise<number> {
  // The size of a host link's ring (ringBytesDefault in runtime/host-mesh.ts).
  const ring = allocateRing(ringBytesDefault)
  const doorbell = Doorbell.allocate()
  return pair({ role: 'ring-producer', framing, count, ring, doorbell }, { role: 'ring-consumer', framing, count, ring, doorbell }, [], [], count, ringChecksum(count))
}

async function postMessageRate(): Promise<number> {
  const n = Math.min(count, 500_000)
  // MessagePorts must be transferred, so these two workers are started with a transfer list.
  const { port1, port2 } = new MessageChannel()
  return pair({ role: 'port-producer', count: n, port: port1 }, { role: 'port-consumer', count: n, port: port2 }, [port1], [port2], n)
}

async function actorTell(runtime: NodeRuntime): Promise<number> {
  const sinkRef = await runtime.spawn<SinkMsg>({ module: fixtures, export: 'sink' }, undefined, { host: 2 })
  const sourceRef = await runtime.spawn<SourceMsg>({ module: fixtures, export: 'source' }, undefined, { host: 1 })
  const done = sinkRef.ask({ type: 'expect', count }, { timeoutMs: 600_000 })
  const start = performance.now()
  await sourceRef.ask({ type: 'blast', to: sinkRef, count }, { timeoutMs: 600_000 })
  const result = await done
  const seconds = (performance.now() - start) / 1000
  if (result.received !== count) throw new Error(`sink received ${result.received} of ${count}`)
  await runtime.stop(sinkRef)
  await runtime.stop(sourceRef)
  return count / seconds
}

async function actorAsk(runtime: NodeRuntime): Promise<number[]> {
  const a = await runtime.spawn<PingMsg>({ module: fixtures, export: 'pinger' }, undefined, { host: 1 })
  const b = await runtime.spawn<PingMsg>({ module: fixtures, export: 'pinger' }, undefined, { host: 2 })
  await a.ask({ type: 'measure', to: b, rounds: 2000 }) // warm-up
  const samples = await a.ask({ type: 'measure', to: b, rounds: 20_000 }, { timeoutMs: 600_000 })
  await runtime.stop(a)
  await runtime.stop(b)
  return samples
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const percentile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]

const runtime = await NodeRuntime.start({ hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }] })
const tells: number[] = []
const ringRecords: number[] = []
const ringBatches: number[] = []
const posts: number[] = []
const p50s: number[] = []
const p99s: number[] = []
const mps = (x: number) => `${(x / 1e6).toFixed(2)} M/s`
const progress = new Progress({ label: 'bench:actors', steps: runs * 5 })
for (let run = 0; run < runs; run++) {
  const step = <T>(name: string, work: () => Promise<T>): Promise<T> => progress.run(`run ${run + 1}/${runs}: ${name}`, work)
  ringRecords.push(await step('raw ring, a record per message', () => rawRing('record')))
  ringBatches.push(await step('raw ring, a record per batch', () => rawRing('batch')))
  tells.push(await step(`actor tell × ${count}`, () => actorTell(runtime)))
  posts.push(await step('MessagePort.postMessage', () => postMessageRate()))
  const samples = await step('actor ask round trips', () => actorAsk(runtime))
  p50s.push(percentile(samples, 0.5))
  p99s.push(percentile(samples, 0.99))
  console.log(`run ${run + 1}/${runs}: tell ${mps(tells[run])}, ring-record ${mps(ringRecords[run])}, ring-batch ${mps(ringBatches[run])}, postMessage ${mps(posts[run])}, ask p50 ${p50s[run].toFixed(1)} µs p99 ${p99s[run].toFixed(1)} µs`)
}
await runtime.shutdown()

// Ratios are taken within each run (same load on this noisy 2-core machine), then the median.
const tell = median(tells)
const ringRecord = median(ringRecords)
const ringBatch = median(ringBatches)
const post = median(posts)
const ratio = (xs: number[]) => median(tells.map((x, i) => x / xs[i]))
const tellVsRecord = ratio(ringRecords)
const tellVsBatch = ratio(ringBatches)
const tellVsPost = ratio(posts)
console.log('')
console.log('tell: { type, seq, payload: 64-byte Uint8Array } from an actor on host 1 to one on host 2, with')
console.log('backpressure; rings: raw 64-byte messages on the same ring code with the host links\' batching')
console.log('(256 per publish), turn and poll-before-sleep policy; ring-record frames each message as a ring')
console.log('record, ring-batch frames each batch as one record (as the host links do).')
console.log('figure                                  median of ' + runs)
console.log(`actor tell, host 1 -> host 2, 64 B     ${(tell / 1e6).toFixed(2)} M msgs/s`)
console.log(`raw ring, a record per message         ${(ringRecord / 1e6).toFixed(2)} M msgs/s   tell/ring-record ${tellVsRecord.toFixed(2)} (median of per-run ratios)`)
console.log(`raw ring, a record per batch of 256    ${(ringBatch / 1e6).toFixed(2)} M msgs/s   tell/ring-batch ${tellVsBatch.toFixed(2)}`)
console.log(`MessagePort.postMessage, 64 B          ${(post / 1e6).toFixed(2)} M msgs/s   tell/postMessage ${tellVsPost.toFixed(2)}`)
console.log(`actor ask round trip, host 1 <-> 2     p50 ${median(p50s).toFixed(1)} µs, p99 ${median(p99s).toFixed(1)} µs`)
console.log(JSON.stringify({
  bench: 'actors',
  runs,
  count,
  tell_msgs_per_s: Math.round(tell),
  ring_record_msgs_per_s: Math.round(ringRecord),
  ring_batch_msgs_per_s: Math.round(ringBatch),
  postmessage_msgs_per_s: Math.round(post),
  tell_vs_ring_record: Number(tellVsRecord.toFixed(3)),
  tell_vs_ring_batch: Number(tellVsBatch.toFixed(3)),
  tell_vs_postmessage: Number(tellVsPost.toFixed(3)),
  ask_rtt_us_p50: Number(median(p50s).toFixed(1)),
  ask_rtt_us_p99: Number(median(p99s).toFixed(1)),
}))
