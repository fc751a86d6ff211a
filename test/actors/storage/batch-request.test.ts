/**
 * The packed batch-read request (actors/storage/batch-request.ts): reads in, the same reads out
 * (with their regions), and every malformed packing refused with the field named.
 */
import t from 'tap'
import { batchReadRecordBytes, checkBatchRead, packBatchRead, unpackBatchRead } from '../../../actors/storage/batch-request.ts'
import { makeChunkId } from '../../../actors/storage/chunk-id.ts'
import type { ReadIO } from '../../../actors/storage/protocol.ts'

const region = { node: 3, incarnation: 77, regionId: 5, length: 1 << 20 }
const ios: ReadIO[] = [
  { key: { chainId: 1, chainVersion: 4, chunkId: makeChunkId(9n, 0) }, offset: 4096, length: 4096, into: { kind: 'none' } },
  { key: { chainId: 2 ** 32 - 1, chainVersion: 0, chunkId: makeChunkId(9n, 1) }, offset: 0, length: 1 << 20, into: { kind: 'region', region, offset: 8192 } },
  { key: { chainId: 6, chainVersion: 2 ** 32 - 1, chunkId: makeChunkId(2n ** 64n - 1n, 7) }, offset: 2 ** 26 - 1, length: 1, into: { kind: 'none' } },
]

t.test('reads come back as packed, targets and regions with them', async (t) => {
  const msg = packBatchRead([101, 202, 2 ** 32 - 1], ios, 65536)
  t.equal(msg.reads.length, 3 * batchReadRecordBytes)
  t.equal(msg.slotReplyBytesMax, 65536)
  t.equal(checkBatchRead(msg), null)
  t.same(unpackBatchRead(msg), { targetIds: [101, 202, 2 ** 32 - 1], ios })
})

t.test('what cannot be packed is refused, not wrapped', async (t) => {
  t.throws(() => packBatchRead([101], []), { code: 'ERR_STORAGE_BAD_REQUEST' }, 'one target id per read')
  t.throws(() => packBatchRead([2 ** 32], [ios[0]]), { code: 'ERR_STORAGE_BAD_REQUEST' }, 'a target id of 2^32')
  t.throws(() => packBatchRead([1], [{ ...ios[0], offset: 2 ** 32 }]), { code: 'ERR_STORAGE_BAD_REQUEST' }, 'an offset of 2^32')
})

t.test('a malformed packing is refused with the field named', async (t) => {
  const msg = packBatchRead([101, 202], ios.slice(0, 2))
  t.match(checkBatchRead({ ...msg, reads: msg.reads.subarray(1) }), /batch-read\.reads/, 'records cut short')
  t.match(checkBatchRead({ ...msg, reads: 'x' }), /batch-read\.reads/)
  t.match(checkBatchRead({ ...msg, chunkIds: msg.chunkIds.slice(1) }), /batch-read\.chunkIds/, 'a chunk id short')
  t.match(checkBatchRead({ ...msg, chunkIds: `g${msg.chunkIds.slice(1)}` }), /batch-read\.chunkIds/, 'not hex')
  t.match(checkBatchRead({ ...msg, regions: [] }), /names region 0/, 'a record naming a region the message does not carry')
  t.match(checkBatchRead({ ...msg, regions: [{ region: { node: 1 }, offset: 0 }] }), /batch-read\.regions/, 'a region without its fields')
})
