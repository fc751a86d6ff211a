import t from 'tap'
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { selectTransport, probeRdma, type RdmaProbe } from '../../../runtime/transport/select-transport.ts'
import { createTransport } from '../../../runtime/transport/create-transport.ts'
import { parseProfile } from '../../../runtime/profile/index.ts'
import { isT3fsError } from '../../../runtime/errors.ts'

const none: RdmaProbe = { devices: [], reason: 'no RDMA device (test)', implemented: false }
const deviceNoImpl: RdmaProbe = { devices: ['mlx5_0'], reason: 'devices: mlx5_0', implemented: false }
const deviceImpl: RdmaProbe = { devices: ['mlx5_0'], reason: 'devices: mlx5_0', implemented: true }

t.test('auto picks rdma only where a device and an implementation exist, and says why', async (t) => {
  t.match(selectTransport('auto', none), { kind: 'tcp', reason: /auto: no RDMA device \(test\); using tcp/ })
  t.match(selectTransport('auto', deviceNoImpl), { kind: 'tcp', reason: /no RDMA transport yet; using tcp/ })
  t.match(selectTransport('auto', deviceImpl), { kind: 'rdma', reason: /auto: RDMA devices: mlx5_0/ })
  t.match(selectTransport('tcp', deviceImpl), { kind: 'tcp', reason: /transport.kind is "tcp"/ })
})

t.test('rdma asked for where it cannot run is ERR_TRANSPORT_UNAVAILABLE', async (t) => {
  for (const probe of [none, deviceNoImpl]) {
    try {
      selectTransport('rdma', probe)
      t.fail('no error')
    } catch (error) {
      t.ok(isT3fsError(error, 'ERR_TRANSPORT_UNAVAILABLE'))
      t.match((error as Error).message, /accepted: "tcp" or "auto"/)
    }
  }
  t.match(selectTransport('rdma', deviceImpl), { kind: 'rdma' })
})

t.test('the sysfs probe reads device directories', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 't3fs-ib-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  t.same(probeRdma(dir).devices, [])
  mkdirSync(join(dir, 'rxe0'))
  t.same(probeRdma(dir).devices, ['rxe0'])
  t.match(probeRdma(join(dir, 'absent')).reason, /ENOENT/)
  // This machine kind has no InfiniBand in its kernel: the real probe finds nothing.
  t.type(probeRdma().reason, 'string')
})

t.test('createTransport builds the tcp transport from a profile', async (t) => {
  const p = parseProfile('[node]\nid = 3\n[listen]\ntcp = "127.0.0.1:0"\n[transport]\nheartbeat_interval = "100ms"\nheartbeat_timeout = "1s"\n', join(tmpdir(), 'x.toml'))
  const { transport, choice } = createTransport(p, { probe: none })
  t.equal(transport.kind, 'tcp')
  t.equal(transport.nodeId, 3)
  t.equal(choice.kind, 'tcp')
  await transport.start()
  await transport.close()
})
