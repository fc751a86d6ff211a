/**
 * The progress reporter on a fake stream and a virtual clock: what a terminal gets (one line
 * redrawn, throttled, ended by a newline, cut to the width), what a pipe gets (plain lines at an
 * interval, no control characters), the ETA, and T3FS_PROGRESS.
 */
import t from 'tap'
import { VirtualClock } from '../../runtime/testkit/virtual-clock.ts'
import { etaMs, formatBytes, formatDuration, progressLine } from '../../runtime/progress/format.ts'
import { Progress, progressSetting, type ProgressOptions } from '../../runtime/progress/progress.ts'

interface FakeStream {
  readonly isTTY: boolean
  readonly columns?: number
  readonly writes: string[]
  write(text: string): boolean
}

function fakeStream(isTTY: boolean, columns?: number): FakeStream {
  const writes: string[] = []
  return { isTTY, columns, writes, write: (text) => { writes.push(text); return true } }
}

function reporter(stream: FakeStream, clock: VirtualClock, options: Partial<ProgressOptions> = {}): Progress {
  return new Progress({ label: 'job', stream, clock, env: {}, ...options })
}

function advance(clock: VirtualClock, ms: number): void {
  clock.advanceTo(clock.now() + ms)
}

const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f]/

t.test('durations, sizes and the ETA arithmetic', async (t) => {
  t.equal(formatDuration(400), '0.4 s')
  t.equal(formatDuration(12_700), '12 s')
  t.equal(formatDuration(185_000), '3m05s')
  t.equal(formatDuration(7_620_000), '2h07m')
  t.equal(formatBytes(512), '512 B')
  t.equal(formatBytes(1536), '1.50 KiB')
  t.equal(formatBytes(200 * 1024 * 1024), '200.0 MiB')
  t.equal(etaMs(25, 75, 10_000), 30_000, '25 units in 10 s: 75 more take 30 s')
  t.equal(etaMs(10, 0, 5_000), 0, 'nothing left')
  t.equal(etaMs(0, 100, 5_000), undefined, 'no rate before anything progressed')
  t.equal(etaMs(5, 10, 0), undefined, 'no time passed')
  t.equal(progressLine({ label: 'smallpond', name: 'tasks', done: 3, total: 12, detail: '2 running', elapsedMs: 2_000, etaMs: 6_000 }),
    'smallpond: tasks 3/12 (25%) · 2 running · 2.0 s, ETA 6.0 s')
  t.equal(progressLine({ label: 'bench:x', name: 'write', step: { index: 2, of: 5 }, done: 3 << 20, total: 4 << 20, unit: 'bytes', elapsedMs: 61_000, ended: 'done' }),
    'bench:x: [2/5] write 3.00 MiB/4.00 MiB (75%) · done in 1m01s')
  t.equal(progressLine({ label: 'a', name: 'b', done: 0, total: 0, unit: 'chunks', elapsedMs: 0, ended: 'failed' }), 'a: b 0/0 chunks (100%) · failed after 0.0 s')
  t.equal(progressLine({ label: 'a', name: 'b\nc\x1b[31m', detail: 'x\ty', elapsedMs: 0 }), 'a: b c [31m · x y · 0.0 s', 'control characters become spaces')
})

t.test('a terminal: one line redrawn in place, at most one redraw per 100 ms, a newline at the end', async (t) => {
  const clock = new VirtualClock(1_000)
  const stream = fakeStream(true)
  const p = reporter(stream, clock)
  t.equal(p.mode, 'redraw')
  p.start('tasks', { total: 100 })
  t.same(stream.writes, ['\rjob: tasks 0/100 (0%) · 0.0 s\x1b[K'], 'a phase shows at once')
  advance(clock, 50)
  p.update({ done: 10 })
  t.equal(stream.writes.length, 1, 'an update 50 ms after the last redraw waits')
  advance(clock, 50)
  p.update({ done: 20 })
  t.equal(stream.writes.length, 2, '100 ms after: redrawn')
  t.equal(stream.writes[1], '\rjob: tasks 20/100 (20%) · 0.1 s, ETA 0.4 s\x1b[K', 'the figures of the latest update, with the ETA')
  for (let i = 0; i < 100; i++) {
    advance(clock, 10)
    p.update({ done: 20 + i })
  }
  t.equal(stream.writes.length, 12, '100 updates over 1 s: 10 redraws')
  p.end({ done: 100 })
  const last = stream.writes[stream.writes.length - 1]
  t.equal(last, '\rjob: tasks 100/100 (100%) · done in 1.1 s\x1b[K\n', 'the end is always shown, and ends the line')
  t.ok(stream.writes.slice(0, -1).every((w) => !w.includes('\n')), 'no newline before the end')
  p.update({ done: 5 })
  t.equal(stream.writes[stream.writes.length - 1], last, 'an update after the end shows nothing')
})

t.test('a terminal: the line is cut to its width; messages (here or on stdout) keep the progress line below them', async (t) => {
  const clock = new VirtualClock()
  const stream = fakeStream(true, 20)
  const p = reporter(stream, clock)
  p.start('a long phase name that does not fit', { total: 10 })
  const drawn = stream.writes[0].replace('\r', '').replace('\x1b[K', '')
  t.equal(Array.from(drawn).length, 19, 'one column spare')
  t.ok(drawn.endsWith('…'))
  p.log('note: something happened')
  t.same(stream.writes.slice(1, 3), ['\r\x1b[K', 'note: something happened\n'], 'the drawn line is wiped, the message written')
  t.match(stream.writes[3], /^\rjob: a long phase/, 'and the progress line is drawn again')
  const stdout = fakeStream(true)
  p.log('figures: 1.00 GiB/s', stdout)
  t.same(stdout.writes, ['figures: 1.00 GiB/s\n'], 'a message for another stream goes there')
  t.same(stream.writes.slice(4), ['\r\x1b[K', stream.writes[3]], 'with the progress line wiped before and drawn after')
})

t.test('not a terminal: plain lines at the start, every 5 s, at the end; no control characters', async (t) => {
  const clock = new VirtualClock()
  const stream = fakeStream(false)
  const p = reporter(stream, clock)
  t.equal(p.mode, 'lines')
  p.start('sort', { total: 16, unit: 'partitions', detail: 'line\nbreak' })
  for (let s = 1; s <= 12; s++) {
    advance(clock, 1_000)
    p.update({ done: s })
  }
  p.end({ done: 16 })
  t.same(stream.writes, [
    'job: sort 0/16 partitions (0%) · line break · 0.0 s\n',
    'job: sort 5/16 partitions (31%) · line break · 5.0 s, ETA 11 s\n',
    'job: sort 10/16 partitions (62%) · line break · 10 s, ETA 6.0 s\n',
    'job: sort 16/16 partitions (100%) · line break · done in 12 s\n',
  ])
  t.ok(stream.writes.every((w) => !CONTROL.test(w) && w.endsWith('\n') && w.indexOf('\n') === w.length - 1), 'one plain line per write')
})

t.test('steps, run() and failures', async (t) => {
  const clock = new VirtualClock()
  const stream = fakeStream(false)
  const p = reporter(stream, clock, { steps: 2 })
  const value = await p.run('first', async (update) => {
    advance(clock, 2_000)
    update({ detail: 'halfway' })
    return 7
  })
  t.equal(value, 7)
  await t.rejects(p.run('second', async () => {
    advance(clock, 1_000)
    throw new Error('boom')
  }), { message: 'boom' })
  t.same(stream.writes, ['job: [1/2] first · 0.0 s\n', 'job: [1/2] first · halfway · done in 2.0 s\n', 'job: [2/2] second · 0.0 s\n', 'job: [2/2] second · failed after 1.0 s\n'])
  p.start('third')
  t.equal(stream.writes[stream.writes.length - 1], 'job: [3] third · 0.0 s\n', 'past the announced steps the count stays honest')
  p.start('fourth')
  t.equal(stream.writes[stream.writes.length - 2], 'job: [3] third · done in 0.0 s\n', 'starting a phase ends the one before')
})

t.test('the ETA counts from where counting began: a phase joined midway, or counting only later', async (t) => {
  const clock = new VirtualClock()
  const stream = fakeStream(false)
  const p = reporter(stream, clock, { lineIntervalMs: 0 })
  p.start('sync', { done: 600, total: 1000, unit: 'chunks' })
  advance(clock, 10_000)
  p.update({ done: 700 })
  t.equal(stream.writes[1], 'job: sync 700/1000 chunks (70%) · 10 s, ETA 30 s\n', '100 chunks in 10 s, 300 left')
  p.start('wait', { unit: 'chunks' })
  advance(clock, 30_000)
  p.update({ done: 100, total: 1000 })
  t.equal(stream.writes[stream.writes.length - 1], 'job: wait 100/1000 chunks (10%) · 30 s\n', 'no rate from a single count')
  advance(clock, 10_000)
  p.update({ done: 200 })
  t.equal(stream.writes[stream.writes.length - 1], 'job: wait 200/1000 chunks (20%) · 40 s, ETA 1m20s\n', 'counted from the first count, not the wait before it')
})

t.test('T3FS_PROGRESS and TERM decide the mode', async (t) => {
  const clock = new VirtualClock()
  const off = fakeStream(true)
  const p = reporter(off, clock, { env: { T3FS_PROGRESS: '0' } })
  t.equal(p.mode, 'off')
  p.start('x', { total: 2 })
  p.update({ done: 1 })
  p.end({ done: 2 })
  t.same(off.writes, [], 'off: nothing')
  p.log('a message')
  t.same(off.writes, ['a message\n'], 'messages still show')
  t.equal(reporter(fakeStream(false), clock, { enabled: false }).mode, 'off', 'the program may keep it off')
  t.equal(reporter(fakeStream(false), clock, { enabled: false, env: { T3FS_PROGRESS: 'on' } }).mode, 'lines', 'T3FS_PROGRESS=on wins')
  t.equal(reporter(fakeStream(true), clock, { enabled: true, env: { T3FS_PROGRESS: 'false' } }).mode, 'off', 'T3FS_PROGRESS=false wins')
  t.equal(reporter(fakeStream(true), clock, { env: { TERM: 'dumb' } }).mode, 'lines', 'a dumb terminal gets plain lines')
  t.equal(progressSetting({ T3FS_PROGRESS: '' }), undefined)
  t.throws(() => progressSetting({ T3FS_PROGRESS: 'maybe' }), { code: 'ERR_INVALID_OPTION', message: /T3FS_PROGRESS is "maybe"; accepted: 0 or 1/ })
  t.throws(() => reporter(fakeStream(true), clock, { redrawIntervalMs: -1 }), { code: 'ERR_INVALID_OPTION', message: /redrawIntervalMs/ })
  t.throws(() => reporter(fakeStream(true), clock, { steps: 0 }), { code: 'ERR_INVALID_OPTION', message: /steps/ })
})
