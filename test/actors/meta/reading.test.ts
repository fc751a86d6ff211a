import t from 'tap'
import { openKv } from '../../../actors/kv/index.ts'
import { DecodeCache } from '../../../actors/meta/decode-cache.ts'
import { readKey, readKeys, runAsync, runSync, type Reading } from '../../../actors/meta/reading.ts'

t.test('decode cache: identical bytes reuse the decoded record, changed bytes decode again; records are frozen; bounded', async (t) => {
  const cache = new DecodeCache<number, { n: number; inner: { list: number[] } }>(2)
  let decodes = 0
  const decode = (_key: number, bytes: Buffer) => {
    decodes++
    return { n: bytes[0], inner: { list: [bytes[0]] } }
  }
  const first = cache.decode(1, Buffer.from([7]), decode)
  t.equal(cache.decode(1, Buffer.from([7]), decode), first, 'equal bytes (another buffer): the same record')
  t.equal(decodes, 1)
  const changed = cache.decode(1, Buffer.from([8]), decode)
  t.equal(changed.n, 8, 'changed bytes under the same key are decoded again')
  t.equal(decodes, 2)
  t.throws(() => {
    ;(changed.inner.list as number[]).push(1)
  }, TypeError, 'a cached record is deep-frozen')
  cache.decode(2, Buffer.from([1]), decode)
  cache.decode(3, Buffer.from([1]), decode)
  t.ok(cache.size <= 2, `bounded (${cache.size} records)`)
})

t.test('a Reading runs the same synchronously on a snapshot and awaited on a transaction', async (t) => {
  const kv = await openKv({ backend: 'memory' })
  try {
    await kv.transact((tx) => {
      tx.set(Buffer.from('p'), Buffer.from('q'))
      tx.set(Buffer.from('q'), Buffer.from('end'))
    })
    function* chase(start: string): Reading<string[]> {
      const seen = [start]
      for (let key = start; ; ) {
        const next = yield* readKey(Buffer.from(key))
        if (next === undefined) return seen
        key = next.toString()
        seen.push(key)
      }
    }
    function* both(): Reading<(string | null)[]> {
      const values = yield* readKeys([Buffer.from('p'), Buffer.from('nothing'), Buffer.from('q')])
      return values.map((v) => (v === undefined ? null : v.toString()))
    }
    const sync = kv.readSnapshot?.((reader) => ({ chase: runSync(chase('p'), reader), both: runSync(both(), reader) }))
    const viaTx = await kv.transact(async (tx) => ({ chase: await runAsync(chase('p'), tx.snapshot), both: await runAsync(both(), tx) }))
    t.same(sync, { chase: ['p', 'q', 'end'], both: ['q', null, 'end'] })
    t.same(viaTx, sync, 'the awaited run reads the same')
    function* refuses(): Reading<never> {
      yield* readKey(Buffer.from('p'))
      throw new Error('refused after a read')
    }
    t.throws(() => kv.readSnapshot?.((reader) => runSync(refuses(), reader)), /refused after a read/)
    await t.rejects(kv.transact((tx) => runAsync(refuses(), tx)), /refused after a read/)
  } finally {
    await kv.close()
  }
})
