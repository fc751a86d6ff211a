/**
 * FileClient in the simulator, against the real mgmtd, meta and storage (chains of three on
 * SimDisks): the basic file operations end to end.
 */
import t from 'tap'
import { buildSimFs } from './sim-client-cluster.ts'

const pattern = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff)

t.test('write, read back, stat, close with the exact length', async (t) => {
  const c = await buildSimFs(1)
  const { fs } = await c.client()
  const now = () => c.sim.clock.now()
  const h = await c.settle(fs.create('/a.bin'), now() + 2_000)
  const data = pattern(200_000, 1)
  await c.settle(fs.write(h, data, 0), now() + 5_000)
  t.equal((await c.settle(fs.fstat(h), now() + 2_000)).sizeBytes, 200_000, 'the length this client wrote shows at once')
  const back = new Uint8Array(250_000)
  t.equal(await c.settle(fs.read(h, back, 0), now() + 5_000), 200_000, 'a read past the end returns what there is')
  t.same(Buffer.from(back.subarray(0, 200_000)), Buffer.from(data))
  await c.settle(fs.close(h), now() + 5_000)
  const st = await c.settle(fs.stat('/a.bin'), now() + 2_000)
  t.equal(st.sizeBytes, 200_000, 'meta recorded the exact length at close')
  t.equal(st.type, 'file')
})
