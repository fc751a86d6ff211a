/**
 * The packed batch-read reply (actors/storage/batch-reply.ts): records in, the same results out,
 * errors in their places, reads without bytes, and a reply that does not fit its batch refused.
 */
import t from 'tap'
import { BatchReplyWriter, batchReplyResults, checkBatchReply } from '../../../actors/storage/batch-reply.ts'

t.test('results come back as written, in order', async (t) => {
  const w = new BatchReplyWriter(4)
  w.ok(0, 4096, 7, 0xfedcba98, 0)
  w.fail(1, 'ERR_STORAGE_TARGET_STATE', 'target 101 is ONLINE locally')
  w.ok(2, 0, 0, 0, null)
  w.ok(3, 100, 2 ** 32 - 1, 1, 4096)
  const data = new Uint8Array(4196)
  const reply = w.finish(data)
  checkBatchReply(reply, 4)
  t.same(batchReplyResults(reply), [
    { ok: true, lengthBytes: 4096, commitVersion: 7, chunkChecksum: 0xfedcba98, at: 0 },
    { ok: false, code: 'ERR_STORAGE_TARGET_STATE', message: 'target 101 is ONLINE locally' },
    { ok: true, lengthBytes: 0, commitVersion: 0, chunkChecksum: 0 },
    { ok: true, lengthBytes: 100, commitVersion: 2 ** 32 - 1, chunkChecksum: 1, at: 4096 },
  ])
  t.equal(reply.data, data)
})

t.test('a reply whose records or errors do not fit the batch is refused', async (t) => {
  const w = new BatchReplyWriter(2)
  w.fail(5, 'X', 'y')
  t.throws(() => checkBatchReply(w.finish(null), 2), { code: 'ERR_STORAGE_BAD_REQUEST' }, 'an error for a read the batch does not have')
  t.throws(() => checkBatchReply(new BatchReplyWriter(3).finish(null), 2), { code: 'ERR_STORAGE_BAD_REQUEST' }, 'records for 3 reads, 2 asked')
})
