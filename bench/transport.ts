/**
 * npm run bench:transport — the TCP transport between two processes on loopback, beside the limit
 * measured in the same run: a raw Node `net` socket pumping 1 MiB buffers between the same two
 * processes (and iperf3 when installed).
 *
 *   bulk:   one-sided writeRemote of 1 MiB payloads, 8 in flight, into a registered 1 MiB
 *           buffer (as perftest's ib_write_bw does; the raw baseline also receives into 1 MiB);
 *           also reported: the same spread over a 32 MiB region (cache misses included), and
 *           readRemote of 1 MiB into a reused buffer
 *   small:  64-byte frames (send() with backpressure), counted by the receiving transport
 *
 * Raw and bulk passes alternate (raw→bulk, bulk→raw, …); bulk_vs_raw_socket is the median of the
 * ratios of adjacent passes, so load from other processes hits both sides of each ratio alike.
 * Throughputs are medians. Progress and each pass's figures go to stderr; stdout ends with one JSON
 * line. Options: --runs N passes (default 9),
 * --bulk-mib N per pass (default 512), --small N messages per small pass (default 2000000).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer, type Socket } from 'node:net'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { TcpTransport } from '../runtime/transport/tcp-transport.ts'
import { receiveRaw } from './fixtures/raw-receiver.ts'
import { Progress } from '../runtime/progress/progress.ts'

const HOST = '127.0.0.1'
const MiB = 1024 * 1024
const GiB = 1024 * MiB
/** Bulk ops target one 1 MiB buffer (as perftest's ib_write_bw does), the footprint of the raw baseline's receive buffer. */
const REGION_BYTES = MiB
/** The spread variant cycles through a region larger than the cache, one 1 MiB slot per op. */
const SPREAD_REGION_BYTES = 32 * MiB
const IN_FLIGHT = 8
const SMALL_BYTES = 64

type ToChild = { cmd: 'raw'; bytes: number; port: number } | { cmd: 'expect-small'; count: number } | { cmd: 'exit' }
type FromChild =
  | { evt: 'ready'; transportPort: number; regionId: number; spreadRegionId: number }
  | { evt: 'armed' }
  | { evt: 'raw-done'; bytes: number }
  | { evt: 'small-done'; count: number }

// ---- child: the receiving process -----------------------------------------------------------

async function child(parentPort: number): Promise<void> {
  const send = (m: FromChild): void => void process.send!(m)
  const rawReceive = (bytes: number, port: number): void =>
    receiveRaw(HOST, port, bytes, { armed: () => send({ evt: 'armed' }), done: (got) => send({ evt: 'raw-done', bytes: got }) })
  const transport = new TcpTransport({ nodeId: 2, listen: { host: HOST, port: 0 }, peers: [{ node: 1, address: { host: HOST, port: parentPort } }] })
  let smallExpect = 0
  let smallGot = 0
  transport.onFrame(() => {
    smallGot++
    if (smallGot === smallExpect) send({ evt: 'small-done', count: smallGot })
  })
  await transport.start()
  const { regionId } = transport.registerRegion(new Uint8Array(REGION_BYTES).fill(1))
  const spreadRegionId = transport.registerRegion(new Uint8Array(SPREAD_REGION_BYTES).fill(1)).regionId
  process.on('message', (m: ToChild) => {
    if (m.cmd === 'raw') rawReceive(m.bytes, m.port)
    else if (m.cmd === 'expect-small') {
      smallExpect = m.count
      smallGot = 0
      send({ evt: 'armed' })
    } else {
      void transport.close().then(() => process.exit(0))
    }
  })
  send({ evt: 'ready', transportPort: transport.port, regionId, spreadRegionId })
}

// ---- parent: the sending process ------------------------------------------------------------

function nextMessage<T extends FromChild['evt']>(proc: ChildProcess, evt: T): Promise<Extract<FromChild, { evt: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromChild): void => {
      if (m.evt !== evt) return
      proc.off('message', onMessage)
      proc.off('exit', onExit)
      resolve(m as Extract<FromChild, { evt: T }>)
    }
    const onExit = (code: number | null): void => reject(new Error(`bench child exited (${code}) while waiting for ${evt}`))
    proc.on('message', onMessage)
    proc.once('exit', onExit)
  })
}

async function rawSocketGiBps(proc: ChildProcess, bytes: number, buf: Uint8Array): Promise<number> {
  const server = createServer({ noDelay: true })
  await new Promise<void>((r) => server.listen(0, HOST, () => r()))
  const accepted = new Promise<Socket>((r) => server.once('connection', r))
  const armed = nextMessage(proc, 'armed')
  proc.send({ cmd: 'raw', bytes, port: (server.address() as { port: number }).port } satisfies ToChild)
  const [socket] = await Promise.all([accepted, armed])
  const done = nextMessage(proc, 'raw-done')
  const start = performance.now()
  let sent = 0
  while (sent < bytes) {
    sent += buf.length
    if (!socket.write(buf)) await new Promise((r) => socket.once('drain', r))
  }
  await done
  const seconds = (performance.now() - start) / 1000
  socket.destroy()
  server.close()
  return bytes / GiB / seconds
}

async function bulkGiBps(tr: TcpTransport, regionId: number, regionBytes: number, bytes: number, buf: Uint8Array, mode: 'write' | 'read' = 'write'): Promise<number> {
  const ops = bytes / buf.length
  const slots = regionBytes / buf.length
  let issued = 0
  const start = performance.now()
  const lane = async (): Promise<void> => {
    const into = mode === 'read' ? new Uint8Array(buf.length) : buf
    while (issued < ops) {
      const offset = (issued++ % slots) * buf.length
      if (mode === 'write') await tr.writeRemote(2, regionId, offset, buf)
      else await tr.readRemote(2, regionId, offset, buf.length, into)
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane))
  return bytes / GiB / ((performance.now() - start) / 1000)
}

async function smallPerSecond(proc: ChildProcess, tr: TcpTransport, count: number): Promise<number> {
  const armed = nextMessage(proc, 'armed')
  proc.send({ cmd: 'expect-small', count } satisfies ToChild)
  await armed
  const header = new Uint8Array(SMALL_BYTES).fill(7)
  const frame = { header, payloads: [] }
  const done = nextMessage(proc, 'small-done')
  const start = performance.now()
  for (let i = 0; i < count; i++) {
    if (!tr.send(2, frame)) await tr.whenWritable(2)
    // Yield now and then so the socket is written while we produce (one tick batches the rest).
    else if ((i & 0x3fff) === 0x3fff) await new Promise<void>((r) => setImmediate(r))
  }
  await done
  return count / ((performance.now() - start) / 1000)
}

function iperf3GiBps(): number | null {
  const probe = spawnSync('iperf3', ['--version'], { encoding: 'utf8' })
  if (probe.error || probe.status !== 0) return null
  const port = 5201 + Math.floor(Math.random() * 1000)
  const server = spawn('iperf3', ['-s', '-1', '-p', String(port)], { stdio: 'ignore' })
  spawnSync('sleep', ['0.5'])
  const client = spawnSync('iperf3', ['-c', HOST, '-p', String(port), '-t', '3', '-l', '1M', '-J'], { encoding: 'utf8', timeout: 20_000 })
  server.kill()
  try {
    const bps = JSON.parse(client.stdout).end.sum_received.bits_per_second as number
    return bps / 8 / GiB
  } catch {
    return null
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function parent(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '9' }, 'bulk-mib': { type: 'string', default: '512' }, small: { type: 'string', default: '2000000' } } })
  const runs = Number(values.runs)
  const bulkBytes = Number(values['bulk-mib']) * MiB
  const smallCount = Number(values.small)
  if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(bulkBytes) || bulkBytes < 8 * MiB || !Number.isInteger(smallCount) || smallCount < 1000) {
    console.error('usage: npm run bench:transport -- [--runs N>=1] [--bulk-mib N>=8] [--small N>=1000]')
    process.exitCode = 2
    return
  }
  const progress = new Progress({ label: 'bench:transport', steps: 4 })
  progress.start('start the receiving process and connect')
  const tr = new TcpTransport({ nodeId: 1, listen: { host: HOST, port: 0 } })
  await tr.start()
  const proc = spawn(process.execPath, [...childExecArgv(), fileURLToPath(import.meta.url), '--child', String(tr.port)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const kill = (): void => void proc.kill('SIGKILL')
  process.once('exit', kill)
  try {
    const ready = await nextMessage(proc, 'ready')
    tr.addPeer(2, { host: HOST, port: ready.transportPort })
    await new Promise<void>((resolve) => {
      if (tr.peerPhase(2) === 'up') resolve()
      tr.onPeerState((n, s) => n === 2 && s === 'up' && resolve())
    })
    progress.end()
    const buf = new Uint8Array(MiB).fill(0xab)
    // Warm up both paths (buffers, JIT, socket windows) before timing.
    await progress.run('warm-up: raw socket, one-sided writes and reads, small frames', async () => {
      await rawSocketGiBps(proc, 256 * MiB, buf)
      await bulkGiBps(tr, ready.regionId, REGION_BYTES, 256 * MiB, buf)
      await bulkGiBps(tr, ready.spreadRegionId, SPREAD_REGION_BYTES, 128 * MiB, buf)
      await bulkGiBps(tr, ready.regionId, REGION_BYTES, 128 * MiB, buf, 'read')
      await smallPerSecond(proc, tr, 200_000)
    })
    const raw: number[] = []
    const bulk: number[] = []
    const ratios: number[] = []
    const small: number[] = []
    const spread: number[] = []
    const reads: number[] = []
    // Raw and bulk alternate in short passes, each ratio taken from adjacent passes, so the load
    // other processes put on this shared machine hits both sides of a ratio alike.
    progress.start(`passes of ${bulkBytes / MiB} MiB: raw socket and one-sided writes, alternating`, { total: runs, unit: 'passes' })
    for (let r = 0; r < runs; r++) {
      const order = r % 2 === 0
      const a = order ? await rawSocketGiBps(proc, bulkBytes, buf) : await bulkGiBps(tr, ready.regionId, REGION_BYTES, bulkBytes, buf)
      const b = order ? await bulkGiBps(tr, ready.regionId, REGION_BYTES, bulkBytes, buf) : await rawSocketGiBps(proc, bulkBytes, buf)
      raw.push(order ? a : b)
      bulk.push(order ? b : a)
      ratios.push(bulk[r] / raw[r])
      if (r % 3 === 0) {
        spread.push(await bulkGiBps(tr, ready.spreadRegionId, SPREAD_REGION_BYTES, bulkBytes, buf))
        reads.push(await bulkGiBps(tr, ready.regionId, REGION_BYTES, bulkBytes, buf, 'read'))
        small.push(await smallPerSecond(proc, tr, smallCount))
      }
      progress.log(`pass ${r + 1}/${runs}: raw socket ${raw[r].toFixed(2)} GiB/s, one-sided write ${bulk[r].toFixed(2)} GiB/s (ratio ${ratios[r].toFixed(2)})`)
      progress.update({ done: r + 1 })
    }
    progress.end()
    progress.log(`one-sided write spread over 32 MiB: ${spread.map((x) => x.toFixed(2)).join(', ')} GiB/s; one-sided read: ${reads.map((x) => x.toFixed(2)).join(', ')} GiB/s; small: ${small.map((x) => (x / 1e6).toFixed(2)).join(', ')} M msgs/s`)
    const iperf = await progress.run('iperf3 (when installed)', async () => iperf3GiBps())
    progress.log(iperf === null ? 'iperf3: not installed (skipped)' : `iperf3 (1 stream, 1 MiB writes): ${iperf.toFixed(2)} GiB/s`)
    const result: Record<string, number | string | null> = {
      bench: 'transport',
      bulk_gib_per_s: round(median(bulk)),
      raw_socket_gib_per_s: round(median(raw)),
      passes: runs,
      bulk_vs_raw_socket: round(median(ratios)),
      small_msgs_per_s: Math.round(median(small)),
      bulk_spread_gib_per_s: round(median(spread)),
      bulk_read_gib_per_s: round(median(reads)),
    }
    if (iperf !== null) result.iperf3_gib_per_s = round(iperf)
    console.log(JSON.stringify(result))
  } finally {
    proc.send({ cmd: 'exit' } satisfies ToChild)
    await tr.close()
    setTimeout(kill, 2000).unref()
  }
}

/** The child runs TypeScript the way the parent does (and inherits flags such as --cpu-prof). */
function childExecArgv(): string[] {
  const args = [...process.execArgv]
  if (!args.some((a) => a.includes('tsx'))) args.unshift('--import', import.meta.resolve('tsx'))
  return args
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000
}

const childIndex = process.argv.indexOf('--child')
if (childIndex >= 0) await child(Number(process.argv[childIndex + 1]))
else await parent()
