import t from 'tap'
import fc from 'fast-check'
import { ActorSystem } from '../../runtime/actor-system.ts'
import { ActorRefImpl } from '../../runtime/actor-ref.ts'
import { WireReader, WireWriter } from '../../runtime/wire-codec.ts'
import { silentLogger } from '../../runtime/logger.ts'

const system = new ActorSystem({ log: silentLogger })

/** Values the link codec must carry unchanged (JSON-like data, binary, bigint, nested shapes). */
const wireValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.double({ noNaN: true }),
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
    fc.uint8Array({ maxLength: 64 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'), tie('value'), { maxKeys: 5 }),
    fc.record({ type: fc.constantFrom('a', 'b'), n: fc.integer(), s: fc.string({ maxLength: 5 }) }),
  ),
})).value

function normalise(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: [...value] }
  if (Array.isArray(value)) return value.map(normalise)
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v)]))
  return value
}

t.test('a stream of values decodes to equal values, shapes learned once', async (t) => {
  fc.assert(
    fc.property(fc.array(wireValue, { minLength: 1, maxLength: 20 }), (values) => {
      const writer = new WireWriter({ initialBytes: 16 })
      const reader = new WireReader(system)
      for (const value of values) writer.value(value)
      reader.load(writer.bytes, 0, writer.position)
      const decoded = values.map(() => reader.value())
      return reader.done && JSON.stringify(normalise(decoded), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) ===
        JSON.stringify(normalise(values), (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))
    }),
    // A fixed seed keeps CI repeatable; set T3FS_FC_SEED to explore others.
    { numRuns: 500, seed: Number(process.env.T3FS_FC_SEED ?? 20261124) },
  )
  t.pass('500 random streams round-tripped')
})

t.test('a shape is sent once per stream; later messages carry only their values', async (t) => {
  const writer = new WireWriter()
  writer.value({ type: 'data', seq: 1, tag: 'x' })
  const first = writer.position
  writer.value({ type: 'data', seq: 2, tag: 'y' })
  const second = writer.position - first
  t.ok(second < first, `first ${first} bytes (with the shape), then ${second}`)
  t.equal(second, 3 + 5 + 6, 'shape id, an int32, a 1-char string: the type is not resent')
})

t.test('refs, Maps and Dates cross; functions are refused and roll back cleanly', async (t) => {
  const writer = new WireWriter()
  const reader = new WireReader(system)
  const ref = new ActorRefImpl({ node: 3, host: 2, id: 9, incarnation: 77 }, system)
  writer.value({ type: 'x', ref, when: new Date(5), map: new Map([[1, 'a']]) })
  writer.begin()
  t.throws(() => writer.value({ type: 'y', nested: { fresh: 1 }, fn: () => 1 }), /cannot cross/)
  writer.rollback()
  writer.value({ type: 'y', nested: { fresh: 2 }, ok: true })
  reader.load(writer.bytes, 0, writer.position)
  const decoded = reader.value() as { ref: ActorRefImpl; when: Date; map: unknown }
  t.same(decoded.ref.address, { node: 3, host: 2, id: 9, incarnation: 77 })
  t.equal(decoded.when.getTime(), 5)
  t.same(reader.value(), { type: 'y', nested: { fresh: 2 }, ok: true }, 'the shape defined by the rolled-back message was resent')
})

t.test('corrupt input is an error, not garbage', async (t) => {
  const reader = new WireReader(system)
  reader.load(new Uint8Array([250, 1, 2]), 0, 3)
  t.throws(() => reader.value(), /unknown tag 250/)
})

t.test('between nodes, PooledBuffers and large Uint8Arrays leave the stream as payloads; the stream keeps their index', async (t) => {
  const { allocateBufferPool, BufferPool, PooledBuffer } = await import('../../runtime/buffer-pool.ts')
  const { PayloadKind } = await import('../../runtime/wire-codec.ts')
  const { ReceivedPayloads } = await import('../../runtime/network-payloads.ts')
  const pool = new BufferPool(allocateBufferPool({ classes: [{ slotBytes: 4096, slots: 4 }] }))
  const writer = new WireWriter({ outOfBand: { minBytes: 1000, maxPayloads: 3 } })
  const pooled = pool.tryAllocate(3000)!
  pooled.bytes.fill(7)
  const big = new Uint8Array(1000).fill(8)
  const small = new Uint8Array(999).fill(9)
  writer.value({ type: 'put', pooled, big, small })
  t.same(writer.payloads.map((p) => p.length), [3000, 1000], 'the pooled buffer and the array at the threshold left; the one below stayed')
  t.same(writer.payloadKinds, [PayloadKind.pooled, PayloadKind.plain])
  t.equal(writer.payloads[0].buffer, pooled.bytes.buffer, 'by reference: the slot itself, not a copy')
  t.equal(writer.payloads[1], big)
  t.ok(writer.position < 1100, `the stream holds ${writer.position} bytes: the small array and two indices`)
  writer.begin()
  t.throws(() => writer.value([big, big]), /at most 3 out-of-band payloads/, 'a fourth payload is beyond maxPayloads')
  writer.rollback()
  t.equal(writer.payloads.length, 2, 'rollback forgets the payloads of the undone value')
  // The receiving side: payloads read into a slot of its own pool and a buffer of its own.
  const received = new ReceivedPayloads(pool, new Uint8Array(writer.payloadKinds), writer.payloads.map((p) => p.length))
  received.targets.forEach((target, i) => target!.set(writer.payloads[i]))
  const reader = new WireReader(system, pool)
  reader.load(writer.bytes, 0, writer.position)
  reader.setPayloads(received)
  const decoded = reader.value() as { pooled: InstanceType<typeof PooledBuffer>; big: Uint8Array; small: Uint8Array }
  t.ok(decoded.pooled instanceof PooledBuffer)
  t.not(decoded.pooled.slot, pooled.slot, 'a slot of the receiver, not the sender\'s')
  t.ok(decoded.pooled.bytes.every((b) => b === 7) && decoded.pooled.length === 3000)
  t.ok(decoded.big.every((b) => b === 8) && decoded.big.length === 1000)
  t.ok(decoded.small.every((b) => b === 9) && decoded.small.length === 999)
  t.throws(() => received.claimPooled(0), /not an unclaimed pooled payload/, 'a payload is claimed once')
  t.throws(() => received.claimPlain(0), /not an unclaimed plain payload/, 'and as its own kind only')
  t.same(pool.inUse(), [2])
  decoded.pooled.release()
  pooled.release()
  // No slot free on the receiver: the pooled payload reads as null and is counted missing.
  const hog = [pool.tryAllocate(1)!, pool.tryAllocate(1)!, pool.tryAllocate(1)!, pool.tryAllocate(1)!]
  const starved = new ReceivedPayloads(pool, new Uint8Array([PayloadKind.pooled]), [3000])
  t.same(starved.targets, [null])
  const w2 = new WireWriter({ outOfBand: { minBytes: 1000, maxPayloads: 3 } })
  w2.value({ type: 'put', pooled: hog[0] })
  reader.load(w2.bytes, 0, w2.position)
  reader.setPayloads(starved)
  t.same(reader.value(), { type: 'put', pooled: null })
  t.equal(reader.missingPayloads, 1)
  t.same(starved.missingSince(0), [3000])
  for (const h of hog) h.release()
})
