import t from 'tap'
import { checkHistory, type HistoryEntry } from './history-checker.ts'

const initial = new Map([['x', '0'], ['y', '0']])

t.test('history checker: a serial history passes', async (t) => {
  const entries: HistoryEntry[] = [
    { label: 'inc1', version: 2n, readVersion: 1n, reads: [['x', '0']], writes: [['x', '1']] },
    { label: 'inc2', version: 3n, readVersion: 2n, reads: [['x', '1']], writes: [['x', '2']] },
    { label: 'audit', version: -1n, readVersion: 2n, reads: [['x', '1'], ['y', '0']], writes: [] },
  ]
  const verdict = checkHistory(initial, 1n, entries, new Map([['x', '2'], ['y', '0']]))
  t.same(verdict.problems, [])
  t.equal(verdict.checkedReads, 4)
})

t.test('history checker: a lost update, a stale audit, a shared version and a wrong final state are each caught', async (t) => {
  const lost: HistoryEntry[] = [
    { label: 'inc1', version: 2n, readVersion: 1n, reads: [['x', '0']], writes: [['x', '1']] },
    { label: 'inc2', version: 3n, readVersion: 1n, reads: [['x', '0']], writes: [['x', '1']] },
  ]
  t.match(checkHistory(initial, 1n, lost, new Map([['x', '1'], ['y', '0']])).problems, [/inc2 \(version 3, read version 1\) read x=0 but the serial order gives 1/])
  const stale: HistoryEntry[] = [
    { label: 'move', version: 2n, readVersion: 1n, reads: [], writes: [['x', '-5'], ['y', '5']] },
    { label: 'audit', version: -1n, readVersion: 2n, reads: [['x', '0'], ['y', '5']], writes: [] },
  ]
  t.match(checkHistory(initial, 1n, stale, new Map([['x', '-5'], ['y', '5']])).problems, [/audit .* read x=0 but the serial order gives -5/])
  const shared: HistoryEntry[] = [
    { label: 'a', version: 2n, readVersion: 1n, reads: [], writes: [['x', '1']] },
    { label: 'b', version: 2n, readVersion: 1n, reads: [], writes: [['y', '1']] },
  ]
  t.match(checkHistory(initial, 1n, shared, new Map([['x', '1'], ['y', '1']])).problems, [/b shares commit version 2/])
  t.match(checkHistory(initial, 1n, [], new Map([['x', '0']])).problems, [/final state: y=undefined but the serial replay gives 0/])
})
