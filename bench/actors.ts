/**
 * npm run bench:actors — cross-host tell throughput and ask round trips of the actor runtime, beside
 * the limits measured in the same run: the raw shared-memory ring and MessagePort.postMessage.
 * Ends with one JSON line. Options: --runs N (default 5; medians are reported), --count N.
 */
import { MessageChannel, type Transferable, type Worker } from 'node:worker_threads'
import { parseArgs } from 'node:util'
import { performance } from 'node:perf_hooks'
import { NodeRuntime, startWorker } from '../runtime/node-runtime.ts'
import { allocateRing, Doorbell } from '../runtime/spsc-ring.ts'
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
): Promise<number> {
  const workers: Worker[] = [startWorker(baselineWorker, a, transferA), startWorker(baselineWorker, b, transferB)]
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))))
  const done = workers.map((w) => new Promise<{ start: number; end: number }>((resolve) => w.once('message', resolve)))
  for (const w of workers) w.postMessage('go')
  const [p, c] = await Promise.all(done)
  await Promise.all(workers.map((w) => w.terminate()))
  // Worker clocks share the process's time origin, so spans compare directly.
  return messages / ((Math.max(p.end, c.end) - Math.min(p.start, c.start)) / 1000)
}

async function rawRing(): Promise<number> {
  const ring = allocateRing(1 << 20)
  const doorbell = Doorbell.allocate()
  return pair({ role: 'ring-producer', count, ring, doorbell }, { role: 'ring-consumer', count, ring, doorbell })
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
const rings: number[] = []
const posts: number[] = []
const p50s: number[] = []
const p99s: number[] = []
for (let run = 0; run < runs; run++) {
  rings.push(await rawRing())
  tells.push(await actorTell(runtime))
  posts.push(await postMessageRate())
  const samples = await actorAsk(runtime)
  p50s.push(percentile(samples, 0.5))
  p99s.push(percentile(samples, 0.99))
  console.log(`run ${run + 1}/${runs}: tell ${(tells[run] / 1e6).toFixed(2)} M/s, ring ${(rings[run] / 1e6).toFixed(2)} M/s, postMessage ${(posts[run] / 1e6).toFixed(2)} M/s, ask p50 ${p50s[run].toFixed(1)} µs p99 ${p99s[run].toFixed(1)} µs`)
}
await runtime.shutdown()

// Ratios are taken within each run (same load on this noisy 2-core machine), then the median.
const tell = median(tells)
const ring = median(rings)
const post = median(posts)
const tellVsRing = median(tells.map((x, i) => x / rings[i]))
const tellVsPost = median(tells.map((x, i) => x / posts[i]))
console.log('')
console.log('tell: { type, seq, payload: 64-byte Uint8Array } from an actor on host 1 to one on host 2, with')
console.log('backpressure (send() when the link is full); ring: raw 64-byte records on the same ring code.')
console.log('figure                                  median of ' + runs)
console.log(`actor tell, host 1 -> host 2, 64 B     ${(tell / 1e6).toFixed(2)} M msgs/s`)
console.log(`raw SAB ring, 64 B records             ${(ring / 1e6).toFixed(2)} M msgs/s   tell/ring ${tellVsRing.toFixed(2)} (median of per-run ratios)`)
console.log(`MessagePort.postMessage, 64 B          ${(post / 1e6).toFixed(2)} M msgs/s   tell/postMessage ${tellVsPost.toFixed(2)}`)
console.log(`actor ask round trip, host 1 <-> 2     p50 ${median(p50s).toFixed(1)} µs, p99 ${median(p99s).toFixed(1)} µs`)
console.log(JSON.stringify({
  bench: 'actors',
  tell_msgs_per_s: Math.round(tell),
  ring_msgs_per_s: Math.round(ring),
  postmessage_msgs_per_s: Math.round(post),
  tell_vs_ring: Number(tellVsRing.toFixed(3)),
  tell_vs_postmessage: Number(tellVsPost.toFixed(3)),
  ask_rtt_us_p50: Number(median(p50s).toFixed(1)),
  ask_rtt_us_p99: Number(median(p99s).toFixed(1)),
}))
