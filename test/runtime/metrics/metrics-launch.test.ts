/**
 * /metrics of real `t3fs launch` processes (mgmtd and one storage node, each with [metrics] on),
 * scraped over HTTP and read with the text-format parser: mgmtd reports its chain's target
 * SERVING, and the storage node's counters (disk bytes, chunk engine writes, messages to the
 * chain replica, bytes from the client node) grow with the chunks this test writes.
 */
import t from 'tap'
import { makeChunkId } from '../../../actors/storage/chunk-id.ts'
import { parsePromText, sampleValue, type Family } from '../../../runtime/metrics/prom-text.ts'
import { freePort } from '../../support/free-port.ts'
import { CLIENT_NODE, startProcessCluster } from '../../support/storage-processes.ts'

const STORAGE = 10_001
const ports = new Map<number, number>([[1, await freePort()], [STORAGE, await freePort()]])
const cluster = await startProcessCluster({
  storageNodes: 1, chains: 1, chunkSizeBytes: 64 * 1024,
  nodeToml: (id) => `[metrics]\nenabled = true\nlisten = "127.0.0.1:${ports.get(id)}"`,
})
t.teardown(() => cluster.close())
await cluster.allServing(60_000)

async function scrape(node: number): Promise<Map<string, Family>> {
  const response = await fetch(`http://127.0.0.1:${ports.get(node)}/metrics`)
  if (response.status !== 200) throw new Error(`node ${node}: /metrics answered ${response.status}`)
  if (!response.headers.get('content-type')?.startsWith('text/plain; version=0.0.4')) throw new Error(`node ${node}: content type ${response.headers.get('content-type')}`)
  return parsePromText(await response.text())
}

t.test('mgmtd reports its primacy and every target in its public state', async (t) => {
  // Target states are refreshed on mgmtd's status check (500 ms here): give it a few rounds.
  let m = await scrape(1)
  for (let i = 0; i < 40 && sampleValue(m, 't3fs_mgmtd_targets', { state: 'SERVING' }) !== 1; i++) {
    await new Promise((r) => setTimeout(r, 250))
    m = await scrape(1)
  }
  t.equal(sampleValue(m, 't3fs_mgmtd_primary'), 1)
  t.equal(m.get('t3fs_mgmtd_targets')?.type, 'gauge')
  t.equal(sampleValue(m, 't3fs_mgmtd_targets', { state: 'SERVING' }), 1)
  t.equal(sampleValue(m, 't3fs_mgmtd_targets', { state: 'OFFLINE' }), 0)
  t.equal(sampleValue(m, 't3fs_mgmtd_target_state', { target: '101', chain: '1', state: 'SERVING' }), 1)
  t.equal(sampleValue(m, 't3fs_mgmtd_chains', { health: 'serving' }), 1)
  t.equal(sampleValue(m, 't3fs_actors', { kind: 'mgmtd' }), 1)
  t.ok(sampleValue(m, 't3fs_actor_messages_total', { kind: 'mgmtd' }) > 0, 'mgmtd handled heartbeats')
  t.ok(sampleValue(m, 't3fs_transport_bytes_total', { peer: String(STORAGE), direction: 'received' }) > 0, 'heartbeats came from the storage node')
  t.equal(sampleValue(m, 't3fs_transport_peer_up', { peer: String(STORAGE) }), 1)
})

t.test('storage counters move with the chunks written', async (t) => {
  const chunks = 16
  const chunkBytes = 64 * 1024
  const before = await scrape(STORAGE)
  const client = cluster.storageClient()
  for (let i = 0; i < chunks; i++) {
    const data = new Uint8Array(chunkBytes).fill(i + 1)
    await client.ask({ type: 'write', chainId: 1, chunkId: makeChunkId(42n, i), offset: 0, data, chunkSizeBytes: chunkBytes }, { timeoutMs: 20_000 })
  }
  const read = await client.ask({ type: 'read', chainId: 1, chunkId: makeChunkId(42n, 3), offset: 0, length: chunkBytes }, { timeoutMs: 20_000 })
  t.equal(read.bytes[0], 4, 'the data is there')
  const after = await scrape(STORAGE)
  const grew = (name: string, labels: Record<string, string> = {}, sample = name): number => sampleValue(after, name, labels, sample) - sampleValue(before, name, labels, sample)

  t.ok(grew('t3fs_disk_bytes_total', { op: 'write' }) >= chunks * chunkBytes, `disk writes grew by ${grew('t3fs_disk_bytes_total', { op: 'write' })} bytes`)
  t.ok(grew('t3fs_disk_op_duration_seconds', { op: 'write' }, 't3fs_disk_op_duration_seconds_count') >= chunks, 'each write was timed')
  t.equal(grew('t3fs_storage_chunk_ops_total', { op: 'update_write' }), chunks, 'one chunk engine update per chunk')
  t.ok(grew('t3fs_storage_chunk_ops_total', { op: 'commit' }) + grew('t3fs_storage_chunk_ops_total', { op: 'commit_batch' }) >= 1, 'the tail committed')
  t.equal(grew('t3fs_storage_chunk_bytes_total', { op: 'write' }), chunks * chunkBytes)
  t.ok(grew('t3fs_storage_chunk_bytes_total', { op: 'read' }) >= chunkBytes, 'the read went through the engine')
  t.ok(grew('t3fs_actor_messages_total', { kind: 'chain-replica' }) >= chunks, 'the chain replica handled the writes')
  const fromClient = grew('t3fs_transport_bytes_total', { peer: String(CLIENT_NODE), direction: 'received' }) + grew('t3fs_transport_one_sided_bytes_total', { peer: String(CLIENT_NODE), op: 'read' })
  t.ok(fromClient >= chunks * chunkBytes, `the chunks' bytes came from the client node (${fromClient} bytes)`)
  t.ok(grew('t3fs_transport_same_host_copies_total', { op: 'read' }) >= chunks, 'the client is on this machine: each chunk was one direct copy out of its region')
  t.ok(grew('t3fs_transport_same_host_bytes_total') >= chunks * chunkBytes, 'moving every byte of them')
  t.equal(sampleValue(after, 't3fs_transport_same_host_fallbacks_total'), 0, 'none went back to the socket')
  t.ok(sampleValue(after, 't3fs_buffer_pool_slots', { slot_bytes: '65536' }) > 0, 'the pool is reported')
})

t.test('the listener serves only GET /metrics', async (t) => {
  const base = `http://127.0.0.1:${ports.get(1)}`
  t.equal((await fetch(`${base}/`)).status, 404)
  t.equal((await fetch(`${base}/metrics`, { method: 'POST' })).status, 405)
  t.equal((await fetch(`${base}/metrics`, { method: 'HEAD' })).status, 200)
})
