/**
 * USRBIO's boundaries without a cluster: the actor's params, the control requests, the ring
 * header checks, and the layout's arithmetic (what Python and C rely on).
 */
import t from 'tap'
import { CQE_BYTES, HEADER_BYTES, OFF_CQ_TAIL, OFF_SQ_TAIL, RING_MAGIC, ringBytes, RingView, SQE_BYTES } from '../../../actors/client/usrbio/layout.ts'
import { parseRequest } from '../../../actors/client/usrbio/protocol.ts'
import { resolveUsrbioParams } from '../../../actors/client/usrbio/usrbio-actor.ts'

t.test('params: defaults, and every mistake named with what is accepted', async (t) => {
  const p = resolveUsrbioParams({}, 7)
  t.match(p, { socketPath: '/dev/shm/t3fs-usrbio.sock', mgmtdNode: 7, metaNodes: null, maxClients: 64, ioBuffers: 64, limits: { maxRegions: 64, maxRings: 16, maxOpenFiles: 1024, maxInFlight: 256 } })
  t.equal(resolveUsrbioParams({ mgmtd_node: 1 }, 7).metaNodes, null, 'no meta_nodes: meta servers are found on mgmtd\'s node and through the routing (cluster-services.ts)')
  t.same(resolveUsrbioParams({ meta_nodes: [101, 102] }, 7).metaNodes, [101, 102], 'meta_nodes pins them')
  t.throws(() => resolveUsrbioParams({ socket: '/x' } as never, 1), { code: 'ERR_INVALID_OPTION', message: /option usrbio.socket is "\/x"; accepted: one of socket_path, / })
  t.throws(() => resolveUsrbioParams({ socket_path: 'relative.sock' }, 1), { code: 'ERR_INVALID_OPTION', message: /usrbio.socket_path is "relative.sock"; accepted: an absolute path/ })
  t.throws(() => resolveUsrbioParams({ socket_path: `/${'x'.repeat(120)}` }, 1), { code: 'ERR_INVALID_OPTION', message: /at most 100 bytes/ })
  t.throws(() => resolveUsrbioParams({ max_in_flight: 0 }, 1), { code: 'ERR_INVALID_OPTION', message: /usrbio.max_in_flight is 0; accepted: an integer from 1 to 65536/ })
  t.throws(() => resolveUsrbioParams({ max_rings: 1.5 }, 1), { code: 'ERR_INVALID_OPTION', message: /usrbio.max_rings/ })
  t.throws(() => resolveUsrbioParams({ meta_nodes: [] }, 1), { code: 'ERR_INVALID_OPTION', message: /usrbio.meta_nodes/ })
  t.throws(() => resolveUsrbioParams({ mgmtd_node: 70_000 }, 1), { code: 'ERR_INVALID_OPTION', message: /usrbio.mgmtd_node is 70000/ })
})

t.test('requests: each malformed field is named', async (t) => {
  t.same(parseRequest({ id: 1, op: 'open', path: '/a', write: true }), { id: 1, op: 'open', path: '/a', write: true })
  t.same(parseRequest({ op: 'submit', ring: 3 }), { op: 'submit', ring: 3 })
  const bad: [unknown, RegExp][] = [
    [[1, 2], /a request is a JSON object/],
    [{ id: 1, op: 'nuke' }, /op is "nuke"; accepted: create-region, create-ring, mapped/],
    [{ op: 'open', path: '/a' }, /open: field id is undefined/],
    [{ id: 1, op: 'open', path: 'a' }, /open: field path is "a"; accepted: an absolute path/],
    [{ id: 1, op: 'open', path: '/a', create: 'yes' }, /open: field create is "yes"; accepted: true or false/],
    [{ id: 1, op: 'create-region', sizeBytes: -1 }, /create-region: field sizeBytes is -1/],
    [{ id: 1, op: 'create-ring', entries: 3 }, /ring entries is 3; accepted: a power of two from 1 to 4096/],
    [{ id: 1, op: 'register-region' }, /register-region: field name is undefined/],
    [{ op: 'submit', ring: -1 }, /submit: field ring is -1/],
    [{ id: 1, op: 'close', fd: 2 ** 33 }, /close: field fd is 8589934592/],
  ]
  for (const [value, message] of bad) t.throws(() => parseRequest(value), { code: /^ERR_USRBIO_(REQUEST|RING)$/, message }, JSON.stringify(value))
})

t.test('ring layout: sizes, header checks, free-running indexes wrap', async (t) => {
  t.equal(ringBytes(64), HEADER_BYTES + 64 * (SQE_BYTES + CQE_BYTES))
  const ring = RingView.format(new ArrayBuffer(ringBytes(4)), 4)
  t.equal(RingView.invalid(ring.buffer), null)
  t.equal(new DataView(ring.buffer).getUint32(0, true), RING_MAGIC)
  t.match(RingView.invalid(new ArrayBuffer(100)), /100 bytes, less than the 512-byte header/)
  t.match(RingView.invalid(new ArrayBuffer(ringBytes(4))), /magic is 0x0, not 0x4f493354/)
  t.match(RingView.invalid(RingView.format(new ArrayBuffer(ringBytes(4)), 8).buffer), /8 entries need/)
  const odd = RingView.format(new ArrayBuffer(ringBytes(4)), 4)
  new DataView(odd.buffer).setUint32(8, 3, true)
  t.match(RingView.invalid(odd.buffer), /entries field is 3, not a power of two/)
  // Index 0xffffffff is slot 3 of a 4-entry ring; the counter wraps to 0 after it.
  ring.writeSqe(0xffffffff, { op: 1, region: 2, fd: 5, bufOffset: 4096, fileOffset: 2 ** 40, length: 1 << 20, userdata: 2n ** 63n })
  t.same(ring.readSqe(3), { op: 1, region: 2, fd: 5, bufOffset: 4096, fileOffset: 2 ** 40, length: 1 << 20, userdata: 2n ** 63n })
  ring.store(OFF_SQ_TAIL, 0xffffffff + 1)
  t.equal(ring.load(OFF_SQ_TAIL), 0)
  ring.writeCqe(5, { sqIndex: 9, result: -5, userdata: 7n })
  t.same(ring.readCqe(1), { sqIndex: 9, result: -5, userdata: 7n })
  ring.store(OFF_CQ_TAIL, 0xfffffffe)
  t.equal(ring.load(OFF_CQ_TAIL), 0xfffffffe, 'counters read back unsigned')
})
