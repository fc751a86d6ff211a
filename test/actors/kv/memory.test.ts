import t from 'tap'
import { openKv } from '../../../actors/kv/open-kv.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import { readInt64le } from '../../../actors/kv/kv.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { b, conformance } from './conformance.ts'
import { groupCommitConformance } from './group-commit-conformance.ts'
import { DEFAULT_GROUP_COMMIT_MAX_TXNS, GROUP_COMMIT_MAX_QUEUED } from '../../../actors/kv/group-commit.ts'
import { IdleClock } from './idle-clock.ts'

conformance(t, 'memory', (options) => openKv({ backend: 'memory', ...options }))
// The simulator's setting: each batch's write takes simulated time, so commits queue behind it.
conformance(t, 'memory (commitDelayMs 1)', (options) => openKv({ backend: 'memory', commitDelayMs: 1, ...options }))
groupCommitConformance(t, 'memory (commitDelayMs 1)', (options) => openKv({ backend: 'memory', commitDelayMs: 1, ...options }))

t.test('memory: the injected clock and random drive the retry backoff deterministically', async (t) => {
  const run = async () => {
    const clock = new IdleClock()
    const kv = await openKv({
      backend: 'memory',
      clock,
      random: new SeededRandom(42),
      retry: { initialBackoffMs: 10, maxBackoffMs: 40, maxRetries: 5 },
    })
    await kv.transact((tx) => tx.set(b('k'), b('0')))
    const err = await kv.transact(async (tx) => {
      await tx.get(b('k'))
      await kv.transact((inner) => inner.set(b('k'), b(String(clock.ms))))
      tx.set(b('j'), b('x'))
    }).catch((e: unknown) => e)
    await kv.close()
    return { delays: clock.delaysMs, code: (err as { code?: string }).code, elapsedMs: clock.ms - 1_000_000 }
  }
  const first = await run()
  const second = await run()
  t.equal(first.code, 'ERR_TXN_RETRY_LIMIT')
  t.equal(first.delays.length, 5)
  t.same(first.delays, second.delays, 'same seed, same delays')
  const caps = [10, 20, 40, 40, 40]
  t.ok(first.delays.every((d, i) => d >= caps[i] / 2 && d < caps[i]), `exponential with jitter, capped: ${first.delays.map((d) => d.toFixed(1)).join(', ')}`)
  t.equal(first.elapsedMs, first.delays.reduce((s, d) => s + d, 0), 'the backoff slept on the injected clock, not the wall clock')
})

t.test('memory: openKv validates options, naming each', async (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [{ backend: 'rocks' }, /option backend is "rocks"; accepted: "memory" \| "lmdb" \| "fdb"/],
    [{ backend: 'memory', path: '/x' }, /option path is "\/x"; accepted: not an option of the memory backend/],
    [{ backend: 'memory', historyEntries: 0 }, /option historyEntries is 0; accepted: a positive integer/],
    [{ backend: 'memory', limits: { maxKeyBytes: 20000 } }, /option limits.maxKeyBytes is 20000; accepted: an integer from 1 to 10000/],
    [{ backend: 'memory', limits: { maxKeys: 1 } }, /option limits.maxKeys is 1; accepted: one of/],
    [{ backend: 'memory', clock: {} }, /option clock is \{\}; accepted: a runtime Clock: an object with now\(\) and setTimer\(\) methods/],
    [{ backend: 'memory', clock: { now: () => 0 } }, /accepted: a runtime Clock: an object with now\(\) and setTimer\(\) methods/],
    [{ backend: 'memory', random: { next: () => 0 } }, /option random is .*; accepted: a runtime Random: an object with next\(\) and int\(\) methods/],
    [{ backend: 'memory', sleeper: {} }, /option sleeper is \{\}; accepted: not an option of the memory backend/],
    [{ backend: 'memory', retry: { maxBackoffMs: 1, initialBackoffMs: 5 } }, /option maxBackoffMs is 1; accepted: an integer >= initialBackoffMs/],
    [{ backend: 'lmdb' }, /option path is undefined; accepted: a non-empty directory path/],
    [{ backend: 'memory', groupCommit: 8 }, /option groupCommit is 8; accepted: an object \{ maxTxns\?, maxBytes\? \}/],
    [{ backend: 'memory', groupCommit: { maxTxns: 0 } }, /option groupCommit.maxTxns is 0; accepted: an integer from 1 to 4096/],
    [{ backend: 'memory', groupCommit: { maxBytes: 1.5 } }, /option groupCommit.maxBytes is 1.5; accepted: an integer from 1 to 268435456/],
    [{ backend: 'memory', groupCommit: { maxWaitMs: 1 } }, /option groupCommit.maxWaitMs is 1; accepted: one of maxTxns, maxBytes/],
    [{ backend: 'memory', commitDelayMs: -1 }, /option commitDelayMs is -1; accepted: a number of milliseconds from 0 to 60000/],
    [{ backend: 'lmdb', path: '/tmp/x', commitDelayMs: 1 }, /option commitDelayMs is 1; accepted: not an option of the lmdb backend/],
    [{ backend: 'lmdb', path: '/tmp/x', groupCommit: { maxTxns: 5000 } }, /option groupCommit.maxTxns is 5000; accepted: an integer from 1 to 4096/],
    [{ backend: 'fdb', apiVersion: 1.5 }, /option apiVersion is 1.5/],
  ]
  for (const [options, message] of cases) {
    const err = await openKv(options as Parameters<typeof openKv>[0]).then(() => undefined, (e: unknown) => e)
    t.ok(isT3fsError(err, 'ERR_INVALID_OPTION'), JSON.stringify(options))
    t.match((err as Error).message, message)
  }
})

t.test('memory: the history is bounded by entry count; older read versions are too old', async (t) => {
  const kv = await openKv({ backend: 'memory', historyEntries: 3 })
  let round = 0
  const res = await kv.transactWithInfo(async (tx) => {
    round++
    await tx.get(b('a'))
    if (round === 1) for (let i = 0; i < 5; i++) await kv.transact((inner) => inner.set(b(`x${i}`), b('1')))
    tx.set(b('a'), b('1'))
  })
  t.equal(res.info.attempts, 2)
  t.equal(kv.stats.tooOld, 1, 'the first attempt failed too old, not as a conflict')
  await kv.close()
  t.ok(isT3fsError(await kv.transact(() => 1).catch((e: unknown) => e), 'ERR_KV_CLOSED'), 'a closed KV refuses transactions')
})

t.test('memory: a seeded concurrent workload replays identically (simulator determinism)', async (t) => {
  const run = async (seed: number) => {
    const clock = new IdleClock()
    const random = new SeededRandom(seed)
    const kv = await openKv({ backend: 'memory', clock, random })
    const key = (i: number) => b(`acct/${i}`)
    await kv.transact((tx) => { for (let i = 0; i < 4; i++) tx.set(key(i), b('100')) })
    const versions: string[] = []
    const worker = async () => {
      for (let n = 0; n < 25; n++) {
        const from = random.int(4)
        const to = (from + 1) % 4
        const { info } = await kv.transactWithInfo(async (tx) => {
          const a = Number((await tx.get(key(from)))?.toString())
          await Promise.resolve()
          const c = Number((await tx.get(key(to)))?.toString())
          tx.set(key(from), b(String(a - 1)))
          tx.set(key(to), b(String(c + 1)))
        })
        versions.push(`${info.committedVersion}/${info.attempts}`)
      }
    }
    await Promise.all([worker(), worker(), worker()])
    const state = (await kv.transact((tx) => tx.getRange(b('acct/'), b('acct0')))).map((r) => r.value.toString())
    await kv.close()
    return { versions, state, conflicts: kv.stats.conflicts, clock: clock.ms }
  }
  const a = await run(99)
  const again = await run(99)
  t.same(again, a, 'same seed: same commit order, attempts, conflicts, final state and virtual time')
  t.ok(a.conflicts > 0, `the workload conflicted (${a.conflicts} times)`)
  t.equal(a.state.reduce((s, v) => s + Number(v), 0), 400, 'total conserved')
})

t.test('memory: cleared keys do not linger as versions forever', async (t) => {
  const clock = new IdleClock()
  const kv = await openKv({ backend: 'memory', clock })
  await kv.transact((tx) => { for (let i = 0; i < 50; i++) tx.set(b(`k${i}`), b('v')) })
  await kv.transact((tx) => tx.clearRange(b('k'), b('l')))
  clock.ms += 10_000
  for (let i = 0; i < 20; i++) await kv.transact((tx) => tx.set(b('other'), b(String(i))))
  const engine = (kv as unknown as { engine: { keys: string[] } }).engine
  t.same(engine.keys, ['other'], 'tombstones older than the window were swept')
  await kv.close()
})

t.test('memory: injected commit_unknown_result faults — blind adds may double-apply, idempotent transactions do not', async (t) => {
  const kv = await openKv({
    backend: 'memory',
    clock: new IdleClock(),
    random: new SeededRandom(5),
    faults: { commitUnknownResult: 0.3 },
  })
  const calls = 200
  for (let i = 0; i < calls; i++) await kv.transact((tx) => tx.add(b('blind'), 1n))
  // The idempotent form: each request records its id; a retry that finds its id does nothing.
  for (let i = 0; i < calls; i++) {
    await kv.transact(async (tx) => {
      const id = b(`req/${i}`)
      if ((await tx.get(id)) !== undefined) return
      tx.set(id, b('done'))
      tx.add(b('safe'), 1n)
    })
  }
  const blind = readInt64le(await kv.transact((tx) => tx.get(b('blind'))))
  const safe = readInt64le(await kv.transact((tx) => tx.get(b('safe'))))
  t.ok(kv.stats.retries > 20, `faults fired (${kv.stats.retries} retries)`)
  t.ok(blind > BigInt(calls), `blind adds applied ${blind} times for ${calls} calls`)
  t.equal(safe, BigInt(calls), 'the idempotent counter is exact')
  const bad = await openKv({ backend: 'memory', faults: { commitUnknownResult: 2 } }).catch((e: unknown) => e)
  t.match((bad as Error).message, /option faults.commitUnknownResult is 2; accepted: a probability from 0 to 1/)
  await kv.close()
})

t.test('memory: group commit under a virtual clock replays identically (simulator determinism)', async (t) => {
  const run = async (seed: number) => {
    const clock = new IdleClock()
    const random = new SeededRandom(seed)
    const kv = await openKv({ backend: 'memory', clock, random, commitDelayMs: 2 })
    const key = (i: number) => b(`acct/${i}`)
    await kv.transact((tx) => { for (let i = 0; i < 4; i++) tx.set(key(i), b('100')) })
    const log: string[] = []
    const worker = async (w: number) => {
      for (let n = 0; n < 15; n++) {
        const from = random.int(4)
        const to = (from + 1 + random.int(3)) % 4
        const { info } = await kv.transactWithInfo(async (tx) => {
          const a = Number((await tx.get(key(from)))?.toString())
          await Promise.resolve()
          const c = Number((await tx.get(key(to)))?.toString())
          tx.set(key(from), b(String(a - 1)))
          tx.set(key(to), b(String(c + 1)))
        })
        log.push(`${w}:${info.committedVersion}/${info.attempts}@${clock.ms}`)
      }
    }
    await Promise.all(Array.from({ length: 8 }, (_, w) => worker(w)))
    const state = (await kv.transact((tx) => tx.getRange(b('acct/'), b('acct0')))).map((r) => r.value.toString())
    await kv.close()
    return { log, state, stats: { ...kv.stats }, clock: clock.ms }
  }
  const a = await run(7)
  const again = await run(7)
  t.same(again, a, 'same seed: same batches, commit order, attempts, conflicts, final state and virtual time')
  t.ok(a.stats.conflicts > 0, `the workload conflicted (${a.stats.conflicts} times)`)
  t.ok((a.stats.batches as number) < a.stats.commits + a.stats.retries, `attempts shared batches (${a.stats.commits} commits + ${a.stats.retries} failed attempts in ${a.stats.batches} batches)`)
  t.equal(a.state.reduce((s, v) => s + Number(v), 0), 400, 'total conserved')
  const other = await run(8)
  t.not(JSON.stringify(other.log), JSON.stringify(a.log), 'another seed, another schedule')
})

t.test('memory: a lone commit waits only for its own write; commits arriving meanwhile share the next', async (t) => {
  const clock = new IdleClock()
  const kv = await openKv({ backend: 'memory', clock, commitDelayMs: 5 })
  const start = clock.ms
  await kv.transact((tx) => tx.set(b('a'), b('1')))
  t.equal(clock.ms - start, 5, 'one simulated write of virtual time, no wait for companions')
  t.equal(kv.stats.batches, 1)
  const mid = clock.ms
  await Promise.all(Array.from({ length: 10 }, (_, i) => kv.transact((tx) => tx.set(b(`k${i}`), b('v')))))
  t.equal(kv.stats.batches, 3, 'ten concurrent commits: the first alone, the nine that queued behind it together')
  t.equal(clock.ms - mid, 10, 'two writes of virtual time for ten commits')
  await kv.close()
  t.ok(isT3fsError(await kv.transact((tx) => tx.set(b('x'), b('1'))).catch((e: unknown) => e), 'ERR_KV_CLOSED'), 'closed after the queue drained')
})

t.test('memory: commit_unknown_result faults hit members of a batch one by one', async (t) => {
  const kv = await openKv({ backend: 'memory', clock: new IdleClock(), random: new SeededRandom(11), commitDelayMs: 1, faults: { commitUnknownResult: 0.3 } })
  const ids = Array.from({ length: 60 }, (_, i) => i)
  await Promise.all(ids.map((i) => kv.transact(async (tx) => {
    const id = b(`req/${i}`)
    if ((await tx.get(id)) !== undefined) return
    tx.set(id, b('done'))
    tx.add(b('safe'), 1n)
  })))
  t.ok(kv.stats.retries > 5, `faults fired inside batches (${kv.stats.retries} retries, ${kv.stats.batches} batches for ${kv.stats.commits} commits)`)
  t.ok((kv.stats.batches as number) < kv.stats.commits + kv.stats.retries, 'members shared batches')
  t.equal(readInt64le(await kv.transact((tx) => tx.get(b('safe')))), 60n, 'idempotent transactions applied exactly once each')
  await kv.close()
})

t.test('memory: a full commit queue pushes back with a retryable error; every transaction still commits once', async (t) => {
  const kv = await openKv({ backend: 'memory', clock: new IdleClock(), random: new SeededRandom(3), commitDelayMs: 1 })
  const extra = 40
  const total = GROUP_COMMIT_MAX_QUEUED + 1 + extra
  // All start in one turn: the first is written at once, GROUP_COMMIT_MAX_QUEUED queue behind it,
  // the rest find the queue full, back off and retry.
  await Promise.all(Array.from({ length: total }, () => kv.transact((tx) => tx.add(b('n'), 1n))))
  t.equal(readInt64le(await kv.transact((tx) => tx.get(b('n')))), BigInt(total), 'each applied once')
  t.equal(kv.stats.retries, extra, `the ${extra} commits over GROUP_COMMIT_MAX_QUEUED (${GROUP_COMMIT_MAX_QUEUED}) were pushed back once each`)
  t.ok((kv.stats.batches as number) <= 1 + Math.ceil(total / DEFAULT_GROUP_COMMIT_MAX_TXNS) + extra, `batches of at most ${DEFAULT_GROUP_COMMIT_MAX_TXNS} (${kv.stats.batches} batches)`)
  await kv.close()
})
