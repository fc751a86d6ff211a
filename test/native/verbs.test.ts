import t from 'tap'
import { VerbsEndpoint, alignedBuffer, verbsProbe } from '../../native/index.ts'
import { expectCode } from './expect-code.ts'

const probe = verbsProbe()
const noDevice = probe.available ? false : `no RDMA device: ${probe.reason}`
if (noDevice) t.comment(`skipping RDMA data-path tests: ${noDevice}`)

t.test('probing libibverbs never throws and explains an absence', async (t) => {
  t.type(probe.available, 'boolean')
  t.type(probe.library, 'boolean')
  if (probe.available) {
    t.ok(probe.devices.length > 0, `devices: ${probe.devices.map((d) => d.name).join(', ')}`)
  } else {
    t.same(probe.devices, [])
    t.match(probe.reason, /libibverbs|ibv_get_device_list|no RDMA devices/, `reason: ${probe.reason}`)
    t.same(verbsProbe(), probe, 'the answer is stable')
  }
})

t.test('without a device, opening an endpoint is a coded error carrying the reason', { skip: probe.available ? 'a device exists' : false }, async (t) => {
  const e = await expectCode(t, () => new VerbsEndpoint('mlx5_0'), 'ERR_RDMA_UNAVAILABLE')
  t.match(e?.message ?? '', probe.available ? /./ : probe.reason)
})

t.test('RC loopback: RDMA WRITE then READ between two queue pairs', { skip: noDevice }, async (t) => {
  const device = probe.available ? probe.devices[0]!.name : ''
  const ep = new VerbsEndpoint(device)
  t.teardown(() => ep.close())
  const local = alignedBuffer(64 * 1024)
  const remote = alignedBuffer(64 * 1024)
  local.fill(0xab)
  const lmr = ep.registerMemory(local)
  const rmr = ep.registerMemory(remote)
  const a = ep.createQueuePair()
  const b = ep.createQueuePair()
  ep.connect(a.index, a.psn, b)
  ep.connect(b.index, b.psn, a)
  ep.post(a.index, 'write', lmr.index, 0, 4096, rmr.addr, rmr.rkey, 1)
  const wait = async (): Promise<number> => {
    for (let i = 0; i < 1000; i++) {
      const done = ep.poll()
      if (done.length) return done[0]!.status
      await new Promise((r) => setImmediate(r))
    }
    return -1
  }
  t.equal(await wait(), 0, 'write completed')
  t.equal(remote[0], 0xab)
  remote.fill(0x11, 0, 4096)
  ep.post(a.index, 'read', lmr.index, 8192, 4096, rmr.addr, rmr.rkey, 2)
  t.equal(await wait(), 0, 'read completed')
  t.equal(local[8192], 0x11)
  await expectCode(t, () => ep.post(a.index, 'write', lmr.index, 65536, 1, rmr.addr, rmr.rkey, 3), 'ERR_INVALID_ARG', 'beyond the region')
})
