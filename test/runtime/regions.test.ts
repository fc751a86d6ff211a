import t from 'tap'
import { NodeRuntime } from '../../runtime/node-runtime.ts'
import { Simulation } from '../../runtime/testkit/simulation.ts'
import { TcpTransport } from '../../runtime/transport/tcp-transport.ts'
import { regionOwner, regionPeer, type OwnerMsg, type PeerMsg } from './fixtures/region-actors.ts'

const pool = { classes: [{ slotBytes: 4096, slots: 16 }] }

function simCluster(seed: number) {
  const sim = new Simulation(seed, { heartbeatTimeoutMs: 300 })
  const a = sim.addNode('a', { bufferPool: pool })
  const b = sim.addNode('b', { bufferPool: pool })
  const owner = a.system.spawn(regionOwner, undefined)
  const peer = b.system.spawn(regionPeer, undefined)
  const settle = async <T>(p: Promise<T>, untilMs: number): Promise<T | string> => {
    let out: T | string = 'pending'
    p.then((v) => { out = v }, (e: { code: string }) => { out = e.code })
    await sim.run({ untilMs })
    return out
  }
  return { sim, a, b, owner, peer, settle }
}

t.test('in the simulator: a peer on another node reads and writes a region while its owner does nothing', async (t) => {
  const { owner, peer, settle, a } = simCluster(1)
  const region = await settle(owner.ask({ type: 'expose', text: 'hello region', size: 64 }), 10)
  if (typeof region === 'string') return t.fail(`expose: ${region}`)
  t.match(region, { node: 1, incarnation: a.incarnation, length: 64 })
  const remoteRegion = region
  t.equal(await settle(peer.ask({ type: 'pull', region: remoteRegion, offset: 6, length: 6 }), 50), 'region', 'read one-sidedly')
  t.equal(await settle(peer.ask({ type: 'push', region: remoteRegion, offset: 0, text: 'HELLO' }), 100), null, 'written one-sidedly')
  t.equal(await settle(owner.ask({ type: 'contents' }), 110), 'HELLO region', 'the owner sees the write in its own buffer')
  t.equal(await settle(peer.ask({ type: 'pull', region: remoteRegion, offset: 60, length: 8 }), 150), 'ERR_REMOTE_REGION', 'past the region: refused, naming the bounds')
})

t.test('in the simulator: a window of a region is a region of its own, refused once unregistered while the region stays', async (t) => {
  const { owner, peer, settle } = simCluster(3)
  const region = await settle(owner.ask({ type: 'expose', text: 'abcdefghijklmnop', size: 64 }), 10)
  if (typeof region === 'string') return t.fail(`expose: ${region}`)
  const window = await settle(owner.ask({ type: 'window', offset: 4, length: 8 }), 20)
  if (typeof window === 'string') return t.fail(`window: ${window}`)
  t.not(window.regionId, region.regionId, 'a region id of its own')
  t.equal(window.length, 8)
  t.equal(await settle(peer.ask({ type: 'pull', region: window, offset: 0, length: 8 }), 60), 'efghijkl', 'it starts at its offset in the region')
  t.equal(await settle(peer.ask({ type: 'push', region: window, offset: 2, text: 'XY' }), 100), null)
  t.equal(await settle(owner.ask({ type: 'contents' }), 110), 'abcdefXYijklmnop', 'a write through it lands in the region\'s bytes')
  t.equal(await settle(peer.ask({ type: 'push', region: window, offset: 7, text: 'ZZ' }), 150), 'ERR_REMOTE_REGION', 'past its own end: refused, though the region goes on')
  t.equal(await settle(owner.ask({ type: 'close-window', window }), 160), null)
  t.equal(await settle(peer.ask({ type: 'push', region: window, offset: 0, text: 'late' }), 200), 'ERR_REMOTE_REGION', 'unregistered: a late write is refused')
  t.equal(await settle(owner.ask({ type: 'contents' }), 210), 'abcdefXYijklmnop', 'and changed nothing')
  t.equal(await settle(peer.ask({ type: 'push', region, offset: 0, text: 'A' }), 250), null, 'the region itself still takes writes')
  t.equal(await settle(owner.ask({ type: 'window', offset: 60, length: 8 }), 260), 'ERR_INVALID_OPTION', 'a window past the region is refused')
})

t.test('in the simulator: a crashed owner\'s region is withdrawn, a partition fails the transfer, a restart makes handles stale', async (t) => {
  const { sim, a, b, owner, peer, settle } = simCluster(2)
  const region = await settle(owner.ask({ type: 'expose', text: 'x', size: 64 }), 10)
  if (typeof region === 'string') return t.fail(region)
  owner.tell({ type: 'crash' })
  await sim.run({ untilMs: 20 })
  t.equal(await settle(peer.ask({ type: 'push', region, offset: 0, text: 'late' }), 60), 'ERR_REMOTE_REGION', 'a crashed owner\'s region no longer exists')
  t.same(a.pool!.inUse(), [0], 'and its slot came back once the region was gone')
  const second = await settle(owner.ask({ type: 'expose', text: 'y', size: 64 }), 80)
  if (typeof second === 'string') return t.fail(second)
  sim.partition(a, b)
  t.match(await settle(peer.ask({ type: 'pull', region: second, offset: 0, length: 1 }, { timeoutMs: 10_000 }), 600), /ERR_PEER_DOWN|ERR_HOST_DIED/, 'cut off: the transfer fails')
  sim.heal(a, b)
  sim.crashNode(a)
  sim.restartNode(a)
  await sim.run({ untilMs: 700 })
  t.equal(await settle(peer.ask({ type: 'pull', region: second, offset: 0, length: 1 }), 750), 'ERR_STALE_INCARNATION', 'a handle from before the restart is refused')
})

t.test('between two node processes over TCP: worker-host actors transfer through each node\'s host 0', async (t) => {
  const oneDomain = [{ id: 0, cpus: [0, 1] }]
  const fast = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 600, reconnectMinMs: 20, reconnectMaxMs: 200 }
  const transport1 = new TcpTransport({ nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, ...fast })
  const transport2 = new TcpTransport({ nodeId: 2, listen: { host: '127.0.0.1', port: 0 }, ...fast })
  const node1 = await NodeRuntime.start({ node: 1, hostsPerDomain: 1, domains: oneDomain, transport: transport1, bufferPool: pool })
  const node2 = await NodeRuntime.start({ node: 2, hostsPerDomain: 1, domains: oneDomain, transport: transport2, bufferPool: pool })
  t.teardown(async () => { await node1.shutdown(); await node2.shutdown() })
  transport1.addPeer(2, { host: '127.0.0.1', port: transport2.port })
  const fixtures = new URL('./fixtures/region-actors.ts', import.meta.url).href
  const owner = await node1.spawn<OwnerMsg>({ module: fixtures, export: 'regionOwner' }, undefined, { host: 1 })
  const peer = await node2.spawn<PeerMsg>({ module: fixtures, export: 'regionPeer' }, undefined, { host: 1 })
  const region = await owner.ask({ type: 'expose', text: 'over tcp', size: 4096 })
  t.equal(await peer.ask({ type: 'pull', region, offset: 0, length: 8 }), 'over tcp')
  await peer.ask({ type: 'push', region, offset: 5, text: 'TCP!' })
  t.equal(await owner.ask({ type: 'contents' }), 'over TCP!')
  await owner.ask({ type: 'withdraw' })
  await t.rejects(peer.ask({ type: 'pull', region, offset: 0, length: 8 }), { code: 'ERR_REMOTE_REGION' })
})
