import t from 'tap'
import fc from 'fast-check'
import { parseChainsCsv, parseChainTableCsv, CSV_ERROR } from '../../../actors/mgmtd/admin/csv.ts'
import { isT3fsError } from '../../../runtime/errors.ts'

t.test('3FS generator output parses (CRLF, BOM, blank lines, spaces tolerated)', async (t) => {
  t.same(parseChainsCsv('\uFEFFChainId,TargetId,TargetId\r\n900100001, 101000100101 ,101000200101\r\n\r\n900100002,101000100102,101000200102\r\n'), [
    { chainId: 900100001, targets: [101000100101, 101000200101] },
    { chainId: 900100002, targets: [101000100102, 101000200102] },
  ])
  t.same(parseChainTableCsv('ChainId\n900100001\n900100002\n'), [900100001, 900100002])
  t.same(parseChainsCsv('ChainId,TargetId\n1,10\n'), [{ chainId: 1, targets: [10] }], 'single-replica chains are legal')
})

t.test('errors name file, line, column, value and what is accepted', async (t) => {
  const cases: [string, RegExp][] = [
    ['', /x\.csv:1: the file is empty; accepted: a header line starting with ChainId/],
    ['ChainId,TargetId\n', /x\.csv:1: no chains after the header/],
    ['ChainId,Target\n1,2\n', /x\.csv:1:2: header "Target" is not accepted; accepted: TargetId/],
    ['ChainId,TargetId\n1\n', /x\.csv:2: a chain needs at least one target/],
    ['ChainId,TargetId\n-1,2\n', /x\.csv:2:1: chain id "-1" is not accepted; accepted: a non-negative integer/],
    ['ChainId,TargetId\n1,2\n1,3\n', /x\.csv:3:1: chain 1 already appears on line 2/],
    ['ChainId,TargetId\n1,99999999999999999999\n', /x\.csv:2:2: target id "99999999999999999999" is not accepted; accepted: a non-negative integer up to 9007199254740991/],
  ]
  for (const [text, pattern] of cases) t.throws(() => parseChainsCsv(text, 'x.csv'), { code: CSV_ERROR, message: pattern })
  t.throws(() => parseChainTableCsv('ChainId,Other\n1\n', 'y.csv'), { message: /y\.csv:1:2: unexpected column "Other"/ })
  t.throws(() => parseChainTableCsv('ChainId\n1,2\n', 'y.csv'), { message: /y\.csv:2:2: unexpected value "2"; accepted: one chain id per line/ })
})

t.test('fuzz: any text either parses to distinct ids or fails with a located CSV error', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.stringMatching(/^ChainId,TargetId(,TargetId)?\n([0-9,x -]{0,12}\n){0,5}$/)), (text) => {
      try {
        const rows = parseChainsCsv(text, 'f.csv')
        const targets = rows.flatMap((r) => r.targets)
        return new Set(rows.map((r) => r.chainId)).size === rows.length && new Set(targets).size === targets.length && targets.every(Number.isSafeInteger)
      } catch (error) {
        return isT3fsError(error) && error.code === CSV_ERROR && /^f\.csv:\d+(:\d+)?: .*accepted/.test(error.message)
      }
    }),
    { numRuns: 3000 },
  )
  t.pass('3000 inputs')
})
