/** The storage client's layout math (reference/3fs.md §2.2): a fixed shuffle, offsets to chunk pieces and chains. */
import t from 'tap'
import { chainIndexList, piecesOf, type FileLayout } from '../../../actors/storage/client/layout.ts'
import { chunkIdParts } from '../../../actors/storage/chunk-id.ts'
import type { RoutingInfo } from '../../../actors/mgmtd/protocol.ts'

const layout = (stripeSize: number, seed: number, baseIndex = 1, shuffle = true): FileLayout => ({ tableId: 1, tableVersion: 2, chunkSizeBytes: 1 << 20, stripeSize, chains: { kind: 'range', baseIndex, shuffle, seed } })

t.test('the shuffle is fixed for ever: these permutations must never change (files written with them would be lost)', async (t) => {
  t.same(chainIndexList(layout(8, 12345, 3)), [10, 6, 5, 3, 4, 9, 8, 7])
  t.same(chainIndexList(layout(5, 0xdeadbeef)), [1, 4, 5, 2, 3])
  t.same(chainIndexList(layout(4, 7, 2, false)), [2, 3, 4, 5], 'no shuffle: the range in order')
  t.same(chainIndexList({ ...layout(3, 0), chains: { kind: 'list', chainIndexes: [9, 2, 4] } }), [9, 2, 4])
  const list = chainIndexList(layout(64, 99))
  t.same([...list].sort((a, b) => a - b), Array.from({ length: 64 }, (_, i) => i + 1), 'a permutation of the range')
})

t.test('piecesOf splits a range at chunk boundaries and maps each chunk to its chain in the layout\'s table version', async (t) => {
  const routing = { chainTables: [{ tableId: 1, version: 1, chains: [50], desc: '' }, { tableId: 1, version: 2, chains: [11, 12, 13], desc: '' }] } as unknown as RoutingInfo
  const l = layout(3, 0, 1, false)
  const pieces = piecesOf(routing, l, 42n, (1 << 20) - 100, (2 << 20) + 200)
  t.same(pieces.map((p) => [p.chunkIndex, p.chainId, p.chunkOffset, p.bufferOffset, p.length]), [
    [0, 11, (1 << 20) - 100, 0, 100],
    [1, 12, 0, 100, 1 << 20],
    [2, 13, 0, 100 + (1 << 20), 1 << 20],
    [3, 11, 0, 100 + (2 << 20), 100],
  ])
  t.same(chunkIdParts(pieces[1].chunkId), { tenant: 0, inodeId: 42n, track: 0, chunkIndex: 1 })
  t.throws(() => piecesOf(routing, { ...l, tableVersion: 9 }, 1n, 0, 1), { code: 'ERR_STORAGE_NO_CHAIN_TABLE', message: /chain table 1 version 9 is not in the routing info \(tables: 1v1, 1v2\)/ })
})
