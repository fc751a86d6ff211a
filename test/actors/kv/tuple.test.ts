import t from 'tap'
import fc from 'fast-check'
import { pack, unpack, compareTuples, tupleRange, type TupleItem, type Tuple } from '../../../actors/kv/tuple.ts'
import { isT3fsError } from '../../../runtime/errors.ts'

const leaf: fc.Arbitrary<TupleItem> = fc.oneof(
  fc.constant(null),
  fc.uint8Array({ maxLength: 6 }).map((b) => Buffer.from(b) as Uint8Array),
  fc.string({ maxLength: 6, unit: 'grapheme' }),
  fc.string({ maxLength: 4, unit: 'binary' }),
  fc.integer({ min: -300, max: 300 }),
  fc.maxSafeInteger(),
  fc.bigInt({ min: -(1n << 80n), max: 1n << 80n }),
  fc.bigInt({ min: -(1n << 2000n), max: 1n << 2000n }),
  fc.boolean(),
)
const { tuple: tupleArb } = fc.letrec<{ tuple: Tuple; item: TupleItem }>((tie) => ({
  item: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leaf, tie('tuple')),
  tuple: fc.array(tie('item'), { maxLength: 4 }),
}))

/** Decoded integers come back as number when safe; normalise both sides for equality. */
function normalise(item: TupleItem): unknown {
  if (typeof item === 'bigint' && item >= BigInt(Number.MIN_SAFE_INTEGER) && item <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(item)
  if (typeof item === 'bigint') return `${item}n`
  if (item instanceof Uint8Array) return Buffer.from(item).toString('hex')
  if (Array.isArray(item)) return item.map(normalise)
  return item
}

t.test('byte order of encodings equals tuple order', async (t) => {
  fc.assert(
    fc.property(tupleArb, tupleArb, (a, b) => {
      const byBytes = Math.sign(Buffer.compare(pack(a), pack(b)))
      return byBytes === compareTuples(a, b)
    }),
    { numRuns: 3000 },
  )
  t.pass('3000 random pairs agree')
})

t.test('pack/unpack round-trips', async (t) => {
  fc.assert(fc.property(tupleArb, (a) => JSON.stringify(normalise(unpack(pack(a)) as TupleItem)) === JSON.stringify(normalise(a as TupleItem))), { numRuns: 2000 })
  t.pass('2000 random tuples round-trip')
})

t.test('known encodings match FoundationDB tuple layer bytes', async (t) => {
  t.equal(pack([null]).toString('hex'), '00')
  t.equal(pack([Buffer.from('f\x00o')]).toString('hex'), '016600ff6f00')
  t.equal(pack(['hi']).toString('hex'), '02686900')
  t.equal(pack([0]).toString('hex'), '14')
  t.equal(pack([1]).toString('hex'), '1501')
  t.equal(pack([-1]).toString('hex'), '13fe')
  t.equal(pack([256]).toString('hex'), '160100')
  t.equal(pack([true, false]).toString('hex'), '2726')
  t.equal(pack([[null, 1]]).toString('hex'), '0500ff150100')
  t.equal(pack([1n << 64n]).toString('hex'), '1d09010000000000000000')
  t.same(unpack(pack([2n ** 63n])), [2n ** 63n])
  t.same(unpack(pack([-(2n ** 70n)])), [-(2n ** 70n)])
})

t.test('tupleRange holds every extension of the prefix and nothing else', async (t) => {
  const { begin, end } = tupleRange(['dir', 7])
  for (const inside of [['dir', 7, null], ['dir', 7, 'a'], ['dir', 7, true, 1]]) {
    const k = pack(inside)
    t.ok(Buffer.compare(begin, k) <= 0 && Buffer.compare(k, end) < 0, JSON.stringify(inside))
  }
  for (const outside of [['dir', 7], ['dir', 8], ['dir', 6, 'z']]) {
    const k = pack(outside)
    t.notOk(Buffer.compare(begin, k) <= 0 && Buffer.compare(k, end) < 0, JSON.stringify(outside))
  }
})

t.test('invalid input is a coded error', async (t) => {
  t.ok(isT3fsError(catchIt(() => pack([1.5])), 'ERR_TUPLE_INVALID'))
  t.ok(isT3fsError(catchIt(() => pack(['\ud800'])), 'ERR_TUPLE_INVALID'))
  t.ok(isT3fsError(catchIt(() => pack([{} as unknown as TupleItem])), 'ERR_TUPLE_INVALID'))
  t.ok(isT3fsError(catchIt(() => unpack(Buffer.from([0x02, 0x41]))), 'ERR_TUPLE_INVALID'))
  t.ok(isT3fsError(catchIt(() => unpack(Buffer.from([0x99]))), 'ERR_TUPLE_INVALID'))
  t.ok(isT3fsError(catchIt(() => unpack(Buffer.from([0x16, 0x01]))), 'ERR_TUPLE_INVALID'))
})

function catchIt(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  return undefined
}
