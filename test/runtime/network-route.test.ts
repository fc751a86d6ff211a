import t from 'tap'
import { NodeRuntime } from '../../runtime/node-runtime.ts'
import { connectToNode } from '../../runtime/node-client.ts'
import { TcpTransport } from '../../runtime/transport/tcp-transport.ts'
import type { EchoMsg, WatcherMsg } from './fixtures/mesh-actors.ts'

const fixtures = new URL('./fixtures/mesh-actors.ts', import.meta.url).href
const def = (name: string) => ({ module: fixtures, export: name })
const oneDomain = [{ id: 0, cpus: [0, 1] }]
const fast = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 600, reconnectMinMs: 20, reconnectMaxMs: 200 }

/** Two nodes in this process, each with its own worker hosts, talking over loopback TCP. */
async function twoNodes() {
  const transport1 = new TcpTransport({ nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, ...fast })
  const transport2 = new TcpTransport({ nodeId: 2, listen: { host: '127.0.0.1', port: 0 }, ...fast })
  const node1 = await NodeRuntime.start({ node: 1, hostsPerDomain: 2, domains: oneDomain, transport: transport1 })
  const node2 = await NodeRuntime.start({ node: 2, hostsPerDomain: 2, domains: oneDomain, transport: transport2 })
  transport1.addPeer(2, { host: '127.0.0.1', port: transport2.port })
  return { node1, node2, transport1, transport2 }
}

t.test('actors on different nodes talk through the same refs, from any host', async (t) => {
  const { node1, node2 } = await twoNodes()
  t.teardown(async () => { await node1.shutdown(); await node2.shutdown() })
  const a = await node1.spawn<EchoMsg>(def('echo'), undefined, { host: 1, name: 'a' })
  await node2.spawn<EchoMsg>(def('echo'), undefined, { host: 2, name: 'b' })
  const b = await node1.lookupRemote<EchoMsg>(2, 'b')
  t.same(b.address, { node: 2, host: 2, id: 1, incarnation: node2.system.incarnation })
  t.same(await b.ask({ type: 'where' }), { node: 2, host: 2 }, 'main thread of node 1 -> worker host of node 2')
  t.same(await a.ask({ type: 'relay', to: b, value: { deep: ['x', 1] } }), { deep: ['x', 1] }, 'worker host of node 1 -> worker host of node 2 and back')
  for (let i = 1; i <= 2000; i++) b.tell({ type: 'count', n: i })
  t.equal(await b.ask({ type: 'total' }), 2001000, 'tells across nodes arrive in order')
  t.same(await b.ask({ type: 'bytes', data: new Uint8Array(100_000).fill(1) }), 100_000, 'large binary messages cross')
  await t.rejects(node1.lookupRemote(2, 'nobody'), { code: 'ERR_NAME_UNKNOWN', message: /has: a?,? ?b/ })
  await t.rejects(b.ask({ type: 'count', n: 0.5 } as never), { code: 'ERR_INVALID_MESSAGE' }, 'remote validation failures come back coded')
})

t.test('a node that drops off the network: pending asks fail fast, watchers on other hosts are told, tells refused', async (t) => {
  const { node1, node2, transport2 } = await twoNodes()
  t.teardown(async () => { await node1.shutdown(); await node2.shutdown() })
  const victim = await node2.spawn<EchoMsg>(def('echo'), undefined, { host: 1, name: 'victim' })
  const watcher = await node1.spawn<WatcherMsg>(def('watcher'), undefined, { host: 2 })
  const remoteVictim = await node1.lookupRemote<EchoMsg>(2, 'victim')
  await watcher.ask({ type: 'watch', ref: remoteVictim })
  const pending = remoteVictim.ask({ type: 'hang' }, { timeoutMs: 30_000 }).catch((error: unknown) => error)
  await remoteVictim.ask({ type: 'total' }) // same link, so the hanging ask is in the victim's hands
  void victim
  const started = Date.now()
  await transport2.close() // as a kill -9 looks from outside: the actors never stopped
  t.match(await pending, { code: 'ERR_HOST_DIED', message: /node 2 is down/ })
  t.ok(Date.now() - started < 5_000, `failed after ${Date.now() - started} ms, not at the 30 s timeout`)
  let signals: string[] = []
  for (let i = 0; i < 200 && signals.length === 0; i++) {
    signals = await watcher.ask({ type: 'signals' })
    if (signals.length === 0) await new Promise((r) => setTimeout(r, 10))
  }
  t.same(signals, ['terminated:host-died'], 'the watcher on a worker host heard of it')
  t.throws(() => remoteVictim.tell({ type: 'count', n: 1 }), { code: 'ERR_HOST_DIED' })
})

t.test('a node that shuts down gracefully: watchers elsewhere hear its actors stopped', async (t) => {
  const { node1, node2 } = await twoNodes()
  t.teardown(async () => { await node1.shutdown(); await node2.shutdown() })
  await node2.spawn<EchoMsg>(def('echo'), undefined, { host: 1, name: 'leaving' })
  const watcher = await node1.spawn<WatcherMsg>(def('watcher'), undefined, { host: 1 })
  await watcher.ask({ type: 'watch', ref: await node1.lookupRemote(2, 'leaving') })
  await node2.shutdown()
  let signals: string[] = []
  for (let i = 0; i < 200 && signals.length === 0; i++) {
    signals = await watcher.ask({ type: 'signals' })
    if (signals.length === 0) await new Promise((r) => setTimeout(r, 10))
  }
  t.equal(signals.length, 1)
  t.match(signals[0], /^terminated:(stopped|host-died)$/, 'told once, whichever arrived first: the stop or the closed connection')
})

t.test('a short-lived client process reaches named actors through connectToNode', async (t) => {
  const transport = new TcpTransport({ nodeId: 7, listen: { host: '127.0.0.1', port: 0 }, ...fast })
  const node = await NodeRuntime.start({ node: 7, hostsPerDomain: 1, domains: oneDomain, transport })
  t.teardown(() => node.shutdown())
  await node.spawn<EchoMsg>(def('echo'), undefined, { host: 1, name: 'svc' })
  const client = await connectToNode({ address: `127.0.0.1:${transport.port}`, node: 7, clientNode: 60001 })
  t.teardown(() => client.close())
  const svc = await client.lookup<EchoMsg>('svc')
  t.equal(await svc.ask({ type: 'echo', value: 'hi' }), 'hi')
  const started = Date.now()
  await t.rejects(connectToNode({ address: '127.0.0.1:1', node: 9, connectTimeoutMs: 5_000 }), { code: 'ERR_CONNECT_REFUSED', message: /nothing listens at 127.0.0.1:1/ })
  t.ok(Date.now() - started < 2_000, 'a refused connection fails at once, not after the timeout')
  // Something that accepts but never answers the hello: the client waits out its timeout.
  const { createServer } = await import('node:net')
  const mute = createServer(() => {})
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', () => resolve()))
  t.teardown(() => new Promise<void>((resolve) => { mute.close(() => resolve()); for (const c of muteSockets) c.destroy() }))
  const muteSockets = new Set<import('node:net').Socket>()
  mute.on('connection', (socket) => muteSockets.add(socket))
  const port = (mute.address() as { port: number }).port
  await t.rejects(connectToNode({ address: `127.0.0.1:${port}`, node: 9, connectTimeoutMs: 300 }), { code: 'ERR_CONNECT_TIMEOUT', message: /no answer from node 9/ })
  await t.rejects(connectToNode({ address: 'nowhere', node: 9 }), { code: 'ERR_INVALID_OPTION', message: /host:port/ })
})

t.test('a restarted node refuses refs of its earlier incarnation: the actor that now has the id gets nothing', async (t) => {
  const { node1, node2, transport2 } = await twoNodes()
  t.teardown(() => node1.shutdown())
  await node2.spawn<EchoMsg>(def('echo'), undefined, { host: 1, name: 'svc' })
  const old = await node1.lookupRemote<EchoMsg>(2, 'svc')
  t.equal(await old.ask({ type: 'echo', value: 1 }), 1)
  const port = transport2.port
  await node2.shutdown()
  const again = new TcpTransport({ nodeId: 2, listen: { host: '127.0.0.1', port }, ...fast })
  const node2b = await NodeRuntime.start({ node: 2, hostsPerDomain: 2, domains: oneDomain, transport: again })
  t.teardown(() => node2b.shutdown())
  const fresh = await node2b.spawn<EchoMsg>(def('echo'), undefined, { host: 1, name: 'svc' })
  t.equal(fresh.address.id, old.address.id, 'the new actor has the old one\'s id on the same host')
  t.not(fresh.address.incarnation, old.address.incarnation, 'in a new incarnation')
  let outcome: unknown
  for (let i = 0; i < 200; i++) {
    outcome = await old.ask({ type: 'count', n: 7 } as never, { timeoutMs: 2_000 }).catch((error: unknown) => error)
    if ((outcome as { code?: string }).code !== 'ERR_HOST_DIED') break // until node 1 sees node 2 back
    await new Promise((r) => setTimeout(r, 20))
  }
  t.match(outcome, { code: 'ERR_STALE_INCARNATION', message: /node 2 restarted/ })
  t.equal(await fresh.ask({ type: 'total' }), 0, 'the new actor got no message meant for the old one')
  const looked = await node1.lookupRemote<EchoMsg>(2, 'svc')
  t.equal(await looked.ask({ type: 'echo', value: 'again' }), 'again', 'a fresh lookup reaches the new actor')
})

t.test('a peer that restarts while its old connection still looks up: asks to the old incarnation fail at once (ERR_HOST_DIED, restarted)', async (t) => {
  const { connect } = await import('node:net')
  const { encodeHello } = await import('../../runtime/transport/hello.ts')
  const transport = new TcpTransport({ nodeId: 1, listen: { host: '127.0.0.1', port: 0 }, ...fast, heartbeatTimeoutMs: 60_000 })
  const node = await NodeRuntime.start({ node: 1, hostsPerDomain: 1, domains: oneDomain, transport })
  t.teardown(() => node.shutdown())
  // Node 5 is a raw socket here: it says HELLO and never answers anything (a process about to crash).
  const speakAs = (incarnation: number) => {
    const socket = connect({ host: '127.0.0.1', port: transport.port })
    socket.on('error', () => {})
    socket.on('connect', () => socket.write(encodeHello({ node: 5, incarnation, maxFrameBytes: 1 << 20, clusterId: 't3fs' })))
    t.teardown(() => socket.destroy())
    return new Promise<void>((resolve) => socket.once('data', () => resolve()))
  }
  await speakAs(1111)
  while (transport.peerPhase(5) !== 'up') await new Promise((r) => setTimeout(r, 5))
  const old = node.system.refFor<EchoMsg>({ node: 5, host: 1, id: 3, incarnation: 1111 })
  const pending = old.ask({ type: 'echo', value: 1 }, { timeoutMs: 30_000 }).catch((error: unknown) => error)
  await new Promise((r) => setTimeout(r, 50))
  await speakAs(2222) // node 5 is back as a new process; its old socket is still open here
  // ERR_HOST_DIED, not ERR_ASK_TIMEOUT: it failed when the restart was seen, not 30 s later.
  t.match(await pending, { code: 'ERR_HOST_DIED', message: /node 5 is down: node 5 restarted \(incarnation 1111 → 2222\)/ })
  t.equal(transport.peerIncarnation(5), 2222)
  t.equal(transport.peerPhase(5), 'up')
})
