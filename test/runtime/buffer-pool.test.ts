import t from 'tap'
import { allocateBufferPool, BufferPool } from '../../runtime/buffer-pool.ts'

t.test('allocates the smallest fitting class, exhausts, frees, and refuses a double release', async (t) => {
  const pool = new BufferPool(allocateBufferPool({ classes: [{ slotBytes: 4096, slots: 2 }, { slotBytes: 8192, slots: 1 }] }))
  const a = pool.tryAllocate(100)!
  const b = pool.tryAllocate(4096)!
  t.equal(a.sizeClass, 0)
  t.equal(b.sizeClass, 0)
  const c = pool.tryAllocate(10)!
  t.equal(c.sizeClass, 1, 'a full class spills into the next larger one')
  t.equal(pool.tryAllocate(1), null, 'nothing left: null, the caller backs off')
  t.same(pool.inUse(), [2, 1])
  a.release()
  t.throws(() => a.release(), { code: 'ERR_BUFFER_RELEASED' })
  t.equal(pool.tryAllocate(5)?.slot, a.slot, 'the freed slot is reused')
  t.throws(() => pool.tryAllocate(9000), { code: 'ERR_INVALID_OPTION', message: /from 0 to 8192/ })
})

t.test('bad pool shapes are refused with what is accepted', async (t) => {
  t.throws(() => allocateBufferPool({ classes: [{ slotBytes: 1000, slots: 1 }] }), { code: 'ERR_INVALID_OPTION', message: /multiple of 4096/ })
  t.throws(() => allocateBufferPool({ classes: [{ slotBytes: 4096, slots: 0 }] }), { code: 'ERR_INVALID_OPTION', message: /slots/ })
})
