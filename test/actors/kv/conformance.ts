/**
 * The KV conformance suite: the same behaviour demanded of every backend. A backend's test file
 * calls `conformance(t, name, factory)`; the factory opens a fresh, empty KV each time.
 */
import type { TAP } from 'tap'
import type { Kv, Transaction } from '../../../actors/kv/kv.ts'
import { readInt64le } from '../../../actors/kv/kv.ts'
import type { KvLimits } from '../../../actors/kv/limits.ts'
import type { GroupCommitOptions } from '../../../actors/kv/group-commit.ts'
import type { Clock } from '../../../runtime/clock.ts'
import { pack } from '../../../actors/kv/tuple.ts'
import { isT3fsError, T3fsError } from '../../../runtime/errors.ts'
import { IdleClock } from './idle-clock.ts'

export interface FactoryOptions {
  limits?: Partial<KvLimits>
  clock?: Clock
  /** Only for backends with group commit (memory, lmdb). */
  groupCommit?: GroupCommitOptions
}
export type KvFactory = (options?: FactoryOptions) => Promise<Kv>

export const b = (s: string): Buffer => Buffer.from(s, 'latin1')
const hex = (x: Buffer | undefined) => (x === undefined ? 'undefined' : x.toString('latin1'))


/** Deterministic PRNG (mulberry32) so failures replay from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

function throwsSync(fn: () => unknown): unknown {
  try {
    fn()
  } catch (error) {
    return error
  }
  throw new Error('expected a throw')
}

export function conformance(t: TAP, name: string, open: KvFactory): void {
  const withKv = async (fn: (kv: Kv) => Promise<void>, options?: FactoryOptions) => {
    const kv = await open(options)
    try {
      await fn(kv)
    } finally {
      await kv.close()
    }
  }

  t.test(`${name}: keys are ordered bytes; ranges forward, reverse and limited`, async (t) => {
    await withKv(async (kv) => {
      const keys = ['', '\x00', '\x00\x00', 'a', 'a\x00', 'ab', 'b', '\x7f', '\x80', '\xfe', '\xfe\xff\xff'].map(b)
      await kv.transact((tx) => keys.forEach((k, i) => tx.set(k, b(`v${i}`))))
      const sorted = [...keys].sort(Buffer.compare).map(hex)
      const all = await kv.transact((tx) => tx.getRange(b(''), b('\xff')))
      t.same(all.map((kv) => hex(kv.key)), sorted, 'full range in byte order')
      const rev = await kv.transact((tx) => tx.getRange(b(''), b('\xff'), { reverse: true }))
      t.same(rev.map((kv) => hex(kv.key)), [...sorted].reverse(), 'reverse')
      const lim = await kv.transact((tx) => tx.getRange(b('a'), b('b'), { limit: 2 }))
      t.same(lim.map((kv) => hex(kv.key)), ['a', 'a\x00'])
      const limRev = await kv.transact((tx) => tx.getRange(b('a'), b('b'), { limit: 2, reverse: true }))
      t.same(limRev.map((kv) => hex(kv.key)), ['ab', 'a\x00'], 'reverse excludes end, limit from the end')
      t.same(await kv.transact((tx) => tx.getRange(b('b'), b('a'))), [], 'begin >= end is empty')
      t.same((await kv.transact((tx) => tx.getRange(b('\x7f'), b('\xff\xff\xff')))).length, 4, 'end past 0xff clamps to the user key space')
      t.equal(hex(await kv.transact((tx) => tx.get(b('')))), 'v0', 'the empty key is a key')
    })
  })

  t.test(`${name}: set, clear, clearRange persist; read-your-writes inside a transaction`, async (t) => {
    await withKv(async (kv) => {
      await kv.transact((tx) => ['a', 'b', 'c', 'd', 'e'].forEach((k) => tx.set(b(k), b(k.toUpperCase()))))
      await kv.transact(async (tx) => {
        tx.clear(b('a'))
        tx.clearRange(b('c'), b('e'))
        t.equal(await tx.get(b('a')), undefined, 'cleared key reads undefined')
        t.equal(await tx.get(b('d')), undefined, 'range-cleared key reads undefined')
        tx.set(b('cc'), b('new'))
        tx.set(b('b'), b('B2'))
        t.same((await tx.getRange(b(''), b('z'))).map((p) => `${hex(p.key)}=${hex(p.value)}`), ['b=B2', 'cc=new', 'e=E'])
        t.same((await tx.getRange(b(''), b('z'), { reverse: true, limit: 2 })).map((p) => hex(p.key)), ['e', 'cc'])
        t.same((await tx.snapshot.getRange(b('c'), b('z'))).map((p) => hex(p.key)), ['cc', 'e'], 'snapshot reads see own writes too')
      })
      t.same((await kv.transact((tx) => tx.getRange(b(''), b('z')))).map((p) => `${hex(p.key)}=${hex(p.value)}`), ['b=B2', 'cc=new', 'e=E'])
      const v = await kv.transact(async (tx) => {
        const mine = Buffer.from('xyz')
        tx.set(b('m'), mine)
        mine[0] = 0x41
        return tx.get(b('m'))
      })
      t.equal(hex(v), 'xyz', 'a buffer mutated after set does not change the write')
    })
  })

  t.test(`${name}: random transactions agree with a model (read-your-writes, ranges, limits)`, async (t) => {
    await withKv(async (kv) => {
      const rand = prng(20261124)
      let model = new Map<string, string>()
      const pick = () => String.fromCharCode(97 + Math.floor(rand() * 6)) + (rand() < 0.5 ? String.fromCharCode(97 + Math.floor(rand() * 3)) : '')
      let checks = 0
      for (let round = 0; round < 60; round++) {
        const local = new Map(model)
        const commit = rand() < 0.8
        const expectRange = (begin: string, end: string, limit: number | undefined, reverse: boolean) => {
          let keys = [...local.keys()].filter((k) => k >= begin && k < end).sort()
          if (reverse) keys.reverse()
          if (limit !== undefined) keys = keys.slice(0, limit)
          return keys.map((k) => `${k}=${local.get(k)}`)
        }
        const run = async (tx: Transaction) => {
          for (let op = 0; op < 12; op++) {
            const r = rand()
            const k = pick()
            if (r < 0.3) {
              const v = `v${round}.${op}`
              tx.set(b(k), b(v))
              local.set(k, v)
            } else if (r < 0.4) {
              tx.clear(b(k))
              local.delete(k)
            } else if (r < 0.5) {
              const e = pick()
              const [lo, hi] = k < e ? [k, e] : [e, k]
              tx.clearRange(b(lo), b(hi))
              for (const key of [...local.keys()]) if (key >= lo && key < hi) local.delete(key)
            } else if (r < 0.6) {
              tx.add(b(k), b('\x01'))
              const prev = local.get(k)
              const byte = prev === undefined || prev.length === 0 ? 0 : prev.charCodeAt(0)
              local.set(k, String.fromCharCode((byte + 1) & 0xff))
            } else if (r < 0.75) {
              const got = hex(await (rand() < 0.5 ? tx.get(b(k)) : tx.snapshot.get(b(k))))
              t.equal(got, local.has(k) ? local.get(k) : 'undefined', `round ${round} get ${k}`)
              checks++
            } else {
              const e = pick()
              const [lo, hi] = k < e ? [k, e + 'z'] : [e, k + 'z']
              const limit = rand() < 0.5 ? 1 + Math.floor(rand() * 4) : undefined
              const reverse = rand() < 0.5
              const got = (await tx.getRange(b(lo), b(hi), { limit, reverse })).map((p) => `${hex(p.key)}=${hex(p.value)}`)
              t.same(got, expectRange(lo, hi, limit, reverse), `round ${round} range ${lo}..${hi} limit ${limit} reverse ${reverse}`)
              checks++
            }
          }
          if (!commit) throw new Error('abandon')
        }
        try {
          await kv.transact(run)
          model = local
        } catch (error) {
          if ((error as Error).message !== 'abandon') throw error
        }
      }
      const stored = (await kv.transact((tx) => tx.getRange(b(''), b('\xff')))).map((p) => `${hex(p.key)}=${hex(p.value)}`)
      t.same(stored, [...model.keys()].sort().map((k) => `${k}=${model.get(k)}`), `store equals the model after ${checks} checks`)
    })
  })

  /** Runs `outer`; during its first attempt only, `inner` commits in between (a concurrent writer). */
  const interleave = async (kv: Kv, outer: (tx: Transaction) => Promise<void>, inner: (tx: Transaction) => void) => {
    let first = true
    const { info } = await kv.transactWithInfo(async (tx) => {
      await outer(tx)
      if (first) {
        first = false
        await kv.transact(inner)
      }
      tx.set(b('out'), b('x'))
    })
    return info.attempts
  }

  t.test(`${name}: conflicting reads retry, snapshot reads do not`, async (t) => {
    await withKv(async (kv) => {
      await kv.transact((tx) => tx.set(b('k'), b('0')))
      t.equal(await interleave(kv, async (tx) => void (await tx.get(b('k'))), (tx) => tx.set(b('k'), b('1'))), 2, 'read of k conflicts with a later write of k')
      t.equal(await interleave(kv, async (tx) => void (await tx.snapshot.get(b('k'))), (tx) => tx.set(b('k'), b('2'))), 1, 'snapshot read adds no conflict')
      t.equal(await interleave(kv, async (tx) => void (await tx.get(b('k'))), (tx) => tx.set(b('other'), b('1'))), 1, 'write elsewhere does not conflict')
      t.equal(await interleave(kv, async (tx) => void (await tx.getRange(b('a'), b('m'))), (tx) => tx.set(b('c'), b('1'))), 2, 'range read conflicts with an insert into the range (phantom)')
      t.equal(await interleave(kv, async (tx) => void (await tx.getRange(b('a'), b('m'))), (tx) => tx.clear(b('k'))), 2, 'range read conflicts with a clear inside it')
      await kv.transact((tx) => ['p1', 'p2', 'p3', 'p4'].forEach((k) => tx.set(b(k), b('v'))))
      t.equal(await interleave(kv, async (tx) => void (await tx.getRange(b('p'), b('q'), { limit: 2 })), (tx) => tx.set(b('p3'), b('w'))), 1, 'a limited range conflicts only up to its last key')
      t.equal(await interleave(kv, async (tx) => void (await tx.getRange(b('p'), b('q'), { limit: 2, reverse: true })), (tx) => tx.set(b('p1'), b('w'))), 1, 'reverse limited range likewise')
      t.equal(await interleave(kv, async (tx) => void (await tx.getRange(b('p'), b('q'), { limit: 2 })), (tx) => tx.set(b('p1\x00'), b('w'))), 2, 'insert before the last returned key conflicts')
      t.equal(await interleave(kv, async (tx) => { tx.set(b('k'), b('mine')); await tx.get(b('k')) }, (tx) => tx.set(b('k'), b('3'))), 1, 'reading an own write adds no conflict')
    })
  })

  t.test(`${name}: explicit read and write conflict ranges`, async (t) => {
    await withKv(async (kv) => {
      t.equal(await interleave(kv, async (tx) => { await tx.snapshot.get(b('k')); tx.addReadConflictKey(b('k')) }, (tx) => tx.set(b('k'), b('1'))), 2, 'addReadConflictKey')
      t.equal(await interleave(kv, async (tx) => tx.addReadConflictRange(b('a'), b('c')), (tx) => tx.set(b('b'), b('1'))), 2, 'addReadConflictRange')
      t.equal(await interleave(kv, async (tx) => tx.addReadConflictRange(b('a'), b('c')), (tx) => tx.set(b('c'), b('1'))), 1, 'conflict ranges are half-open')
      t.equal(await interleave(kv, async (tx) => void (await tx.get(b('w'))), (tx) => tx.addWriteConflictKey(b('w'))), 2, 'addWriteConflictKey without a write')
      t.equal(await interleave(kv, async (tx) => void (await tx.get(b('w5'))), (tx) => tx.addWriteConflictRange(b('w'), b('x'))), 2, 'addWriteConflictRange')
      t.equal(await interleave(kv, async (tx) => void (await tx.get(b('q'))), (tx) => tx.clearRange(b('p'), b('r'))), 2, 'clearRange writes its whole range')
    })
  })

  t.test(`${name}: atomic add is conflict-free and little-endian`, async (t) => {
    await withKv(async (kv) => {
      const attempts = await interleave(kv, async (tx) => tx.add(b('ctr'), 5n), (tx) => tx.add(b('ctr'), 7n))
      t.equal(attempts, 1, 'adds do not conflict with each other')
      t.equal(readInt64le(await kv.transact((tx) => tx.get(b('ctr')))), 12n)
      await kv.transact((tx) => tx.add(b('ctr'), -20n))
      t.equal(readInt64le(await kv.transact((tx) => tx.get(b('ctr')))), -8n, 'negative operands wrap as two\'s complement')
      await kv.transact(async (tx) => {
        tx.add(b('ctr'), 10n)
        t.equal(readInt64le(await tx.get(b('ctr'))), 2n, 'a read after add sees stored + pending adds')
        tx.add(b('fresh'), b('\xff'))
        tx.add(b('fresh'), b('\x02'))
        t.equal(hex(await tx.get(b('fresh'))), '\x01', 'byte operands wrap at their width')
      })
      t.equal(readInt64le(await kv.transact((tx) => tx.get(b('ctr')))), 2n)
      await kv.transact((tx) => tx.add(b('ctr'), b('\x01\x00')))
      t.equal(hex(await kv.transact((tx) => tx.get(b('ctr')))), '\x03\x00', 'the result has the operand\'s width')
      const concurrent = await Promise.all(Array.from({ length: 20 }, () => kv.transactWithInfo((tx) => tx.add(b('many'), 1n))))
      t.ok(concurrent.every((r) => r.info.attempts === 1), '20 concurrent adds commit first time')
      t.equal(readInt64le(await kv.transact((tx) => tx.get(b('many')))), 20n)
    })
  })

  t.test(`${name}: versionstamps, read and commit versions`, async (t) => {
    await withKv(async (kv) => {
      const prefix = b('log/')
      const placeholder = Buffer.concat([prefix, Buffer.alloc(10), b('/x')])
      let stampPromise: Promise<Buffer> | undefined
      const { info } = await kv.transactWithInfo((tx) => {
        tx.setVersionstampedKey(placeholder, prefix.length, b('first'))
        tx.setVersionstampedValue(b('ptr'), Buffer.concat([b('@'), Buffer.alloc(10)]), 1)
        stampPromise = tx.getVersionstamp().promise
      })
      const stamp = await (stampPromise as Promise<Buffer>)
      t.equal(stamp.length, 10)
      t.equal(stamp.readBigUInt64BE(0), info.committedVersion, 'the stamp starts with the commit version')
      const rows = await kv.transact((tx) => tx.getRange(prefix, b('log0')))
      t.same(rows.map((r) => r.key.toString('hex')), [Buffer.concat([prefix, stamp, b('/x')]).toString('hex')])
      t.equal((await kv.transact((tx) => tx.get(b('ptr'))))?.toString('hex'), Buffer.concat([b('@'), stamp]).toString('hex'))
      await kv.transact((tx) => tx.setVersionstampedKey(placeholder, prefix.length, b('second')))
      const after = await kv.transact((tx) => tx.getRange(prefix, b('log0')))
      t.same(after.map((r) => hex(r.value)), ['first', 'second'], 'versionstamped keys sort in commit order')
      const err = await rejects(kv.transact(async (tx) => {
        tx.setVersionstampedValue(b('ptr2'), Buffer.alloc(10))
        await tx.get(b('ptr2'))
      }))
      t.ok(isT3fsError(err, 'ERR_ACCESSED_UNREADABLE'), 'reading a versionstamped value before commit')
      let roStamp: Promise<Buffer> | undefined
      const ro = await kv.transactWithInfo(async (tx) => {
        await tx.get(b('ptr'))
        roStamp = tx.getVersionstamp().promise
      })
      t.equal(ro.info.committedVersion, -1n, 'a read-only transaction commits at -1n')
      t.ok(isT3fsError(await rejects(roStamp as Promise<Buffer>), 'ERR_NO_VERSIONSTAMP'))
      const rv = await kv.transact((tx) => tx.getReadVersion())
      t.ok(rv >= info.committedVersion, 'a later read version is at least the earlier commit version')
      const c1 = (await kv.transactWithInfo((tx) => tx.set(b('z'), b('1')))).info.committedVersion
      const c2 = (await kv.transactWithInfo((tx) => tx.set(b('z'), b('2')))).info.committedVersion
      t.ok(c2 > c1 && c1 > rv, 'commit versions increase')
      const bad = await rejects(kv.transact((tx) => tx.setVersionstampedKey(b('short'), 0, b('v'))))
      t.ok(isT3fsError(bad, 'ERR_INVALID_ARGUMENT'), 'a stamp offset that does not fit the key')
    })
  })

  t.test(`${name}: readSnapshot reads the latest commit synchronously (local backends)`, async (t) => {
    await withKv(async (kv) => {
      const readSnapshot = kv.readSnapshot?.bind(kv)
      if (readSnapshot === undefined) {
        t.comment(`${name} has no readSnapshot (reads are remote): nothing to check`)
        return
      }
      const { info } = await kv.transactWithInfo((tx) => {
        tx.set(b('a'), b('A'))
        tx.set(b('b'), b('B'))
      })
      const seen = readSnapshot((reader) => ({ a: hex(reader.get(b('a'))), b: hex(reader.get(b('b'))), c: reader.get(b('c')), version: reader.readVersion }))
      t.same(seen, { a: 'A', b: 'B', c: undefined, version: info.committedVersion }, 'the committed values, at the last commit version')
      const copy = readSnapshot((reader) => reader.get(b('a'))) as Buffer
      copy[0] = 0x5a
      t.equal(hex(readSnapshot((reader) => reader.get(b('a')))), 'A', 'a value read is the caller\'s own copy')
      const versionBefore = readSnapshot((reader) => reader.readVersion)
      t.equal(readSnapshot((reader) => reader.readVersion), versionBefore, 'nothing committed: the same version (meta caches path walks per version)')
      await kv.transact((tx) => tx.clear(b('a')))
      t.equal(readSnapshot((reader) => reader.get(b('a'))), undefined, 'a later snapshot sees the clear')
      t.ok(readSnapshot((reader) => reader.readVersion) > versionBefore, 'at a later version')
      t.equal(readSnapshot((reader) => reader.readVersion), await kv.transact((tx) => tx.getReadVersion()), 'the same read version as a transaction')
      const outside = (() => { try { return readSnapshot((reader) => reader.get(b('\xffsystem'))) } catch (error) { return error } })()
      t.ok(isT3fsError(outside, 'ERR_KEY_OUTSIDE_LEGAL_RANGE'), 'a system key is refused')
      const long = (() => { try { return readSnapshot((reader) => reader.get(Buffer.alloc(kv.limits.maxKeyBytes + 1, 1))) } catch (error) { return error } })()
      t.ok(isT3fsError(long, 'ERR_KEY_TOO_LARGE'), 'an oversized key is refused')
      const thrown = (() => { try { return readSnapshot(() => { throw new Error('inside') }) } catch (error) { return error } })()
      t.equal((thrown as Error).message, 'inside', 'what fn throws propagates')
      t.equal(hex(readSnapshot((reader) => reader.get(b('b')))), 'B', 'and the snapshot was released: reads go on')
    })
  })

  t.test(`${name}: transact retries only retryable errors`, async (t) => {
    await withKv(async (kv) => {
      const mine = new Error('application error')
      let calls = 0
      const thrown = await rejects(kv.transact(() => {
        calls++
        throw mine
      }))
      t.equal(thrown, mine, 'a non-KV error propagates untouched')
      t.equal(calls, 1, 'and is not retried')
      const coded = new T3fsError('ERR_SOMETHING', 'app')
      t.equal(await rejects(kv.transact(() => { throw coded })), coded)
      await kv.transact((tx) => tx.set(b('k'), b('0')))
      let first = true
      const limited = await rejects(kv.transact(async (tx) => {
        await tx.get(b('k'))
        if (first) {
          first = false
          await kv.transact((inner) => inner.set(b('k'), b('1')))
        }
        tx.set(b('k2'), b('x'))
      }, { maxRetries: 0 }))
      t.ok(isT3fsError(limited, 'ERR_TXN_RETRY_LIMIT'), 'maxRetries 0 turns a conflict into ERR_TXN_RETRY_LIMIT')
      t.ok(isT3fsError((limited as Error).cause, 'ERR_NOT_COMMITTED'), 'with the conflict as cause')
      t.equal(await kv.transact((tx) => tx.get(b('k2'))), undefined, 'the failed attempt wrote nothing')
      let attempts = 0
      const always = await rejects(kv.transact(async (tx) => {
        attempts++
        await tx.get(b('k'))
        await kv.transact((inner) => inner.set(b('k'), b(String(attempts))))
        tx.set(b('k2'), b('x'))
      }, { maxRetries: 3, initialBackoffMs: 1, maxBackoffMs: 2 }))
      t.ok(isT3fsError(always, 'ERR_TXN_RETRY_LIMIT'))
      t.equal(attempts, 4, '1 attempt + 3 retries')
      t.ok(kv.stats.conflicts >= 5 && kv.stats.retries >= 3, 'stats count conflicts and retries')
      const opt = await rejects(kv.transact(() => {}, { maxRetries: -1 }))
      t.ok(isT3fsError(opt, 'ERR_INVALID_OPTION') && /maxRetries is -1; accepted: an integer from 0/.test((opt as Error).message), (opt as Error).message)
      let leaked: Transaction | undefined
      await kv.transact((tx) => { leaked = tx })
      t.ok(isT3fsError(throwsSync(() => (leaked as Transaction).set(b('a'), b('b'))), 'ERR_TXN_CANCELLED'), 'a transaction is unusable after commit')
    })
  })

  t.test(`${name}: limits are coded errors`, async (t) => {
    await withKv(async (kv) => {
      const max = kv.limits
      const e1 = await rejects(kv.transact((tx) => tx.set(Buffer.alloc(max.maxKeyBytes + 1, 1), b('v'))))
      t.ok(isT3fsError(e1, 'ERR_KEY_TOO_LARGE'), 'key too large')
      await kv.transact((tx) => tx.set(Buffer.alloc(max.maxKeyBytes, 1), b('v')))
      t.pass('a key of exactly maxKeyBytes is fine')
      const e2 = await rejects(kv.transact((tx) => tx.set(b('k'), Buffer.alloc(max.maxValueBytes + 1))))
      t.ok(isT3fsError(e2, 'ERR_VALUE_TOO_LARGE'), 'value too large')
      await kv.transact((tx) => tx.set(b('big'), Buffer.alloc(max.maxValueBytes, 7)))
      t.equal((await kv.transact((tx) => tx.get(b('big'))))?.length, max.maxValueBytes, 'a value of exactly maxValueBytes round-trips')
      t.ok(isT3fsError(await rejects(kv.transact((tx) => tx.set(b('\xff/sys'), b('v')))), 'ERR_KEY_OUTSIDE_LEGAL_RANGE'))
      t.ok(isT3fsError(await rejects(kv.transact((tx) => tx.set('k' as unknown as Uint8Array, b('v')))), 'ERR_INVALID_ARGUMENT'))
      t.ok(isT3fsError(await rejects(kv.transact((tx) => tx.getRange(b('a'), b('b'), { limit: 0 }))), 'ERR_INVALID_ARGUMENT'))
    })
    await withKv(async (kv) => {
      const err = await rejects(kv.transact((tx) => {
        for (let i = 0; i < 100; i++) tx.set(b(`key${i}`), Buffer.alloc(100))
      }))
      t.ok(isT3fsError(err, 'ERR_TXN_TOO_LARGE'), 'a transaction over maxTxnBytes')
      t.equal((await kv.transact((tx) => tx.getRange(b(''), b('\xff')))).length, 0, 'nothing of it was written')
    }, { limits: { maxTxnBytes: 4000 } })
  })

  t.test(`${name}: transactions older than the window fail with ERR_TXN_TOO_OLD and are retried`, async (t) => {
    const clock = new IdleClock()
    await withKv(async (kv) => {
      await kv.transact((tx) => tx.set(b('k'), b('0')))
      let calls = 0
      const { info } = await kv.transactWithInfo(async (tx) => {
        calls++
        await tx.get(b('k'))
        if (calls === 1) clock.ms += kv.limits.maxTxnAgeMs + 1
        await tx.get(b('k'))
        tx.set(b('k'), b('1'))
      })
      t.equal(info.attempts, 2, 'the stale attempt was retried')
      const direct = await rejects(kv.transact(async (tx) => {
        await tx.get(b('k'))
        clock.ms += kv.limits.maxTxnAgeMs + 1
        tx.set(b('k'), b('2'))
      }, { maxRetries: 0 }))
      t.ok(isT3fsError((direct as Error).cause, 'ERR_TXN_TOO_OLD'), 'commit of a stale read version fails too old')
      // A read version behind the trimmed conflict history cannot be checked: too old at commit.
      let round = 0
      const res = await kv.transactWithInfo(async (tx) => {
        round++
        await tx.get(b('k'))
        if (round === 1) {
          // Two commits far apart in time trim the history past this read version; then the
          // clock comes back so the attempt's own age is fine and only the horizon decides.
          // (A backend may trim only every few commits, hence a few dozen of them.)
          const start = clock.ms
          for (const step of [1, 2]) {
            clock.ms += kv.limits.maxTxnAgeMs + 1
            for (let i = 0; i < 40; i++) await kv.transact((inner) => inner.set(b('other'), b(`${step}.${i}`)))
          }
          clock.ms = start + 1
        }
        tx.set(b('k'), b('3'))
      })
      t.equal(res.info.attempts, 2, 'history trimmed past the read version → retried')
    }, { clock })
  })

  t.test(`${name}: concurrent random transfers conserve the total (serializability)`, async (t) => {
    await withKv(async (kv) => {
      const accounts = 8
      const key = (i: number) => pack(['acct', i])
      await kv.transact((tx) => {
        for (let i = 0; i < accounts; i++) tx.set(key(i), Buffer.from(String(100)))
      })
      const rand = prng(7)
      let audits = 0
      const worker = async (w: number) => {
        for (let n = 0; n < 40; n++) {
          if (n % 10 === 0) {
            const total = await kv.transact(async (tx) => {
              const rows = await tx.getRange(...rangeOf(pack(['acct'])))
              return rows.reduce((s, r) => s + Number(r.value.toString()), 0)
            })
            t.equal(total, accounts * 100, `audit by worker ${w}`)
            audits++
            continue
          }
          const from = Math.floor(rand() * accounts)
          const to = (from + 1 + Math.floor(rand() * (accounts - 1))) % accounts
          const amount = 1 + Math.floor(rand() * 10)
          await kv.transact(async (tx) => {
            const a = Number((await tx.get(key(from)))?.toString())
            await new Promise((r) => setImmediate(r))
            const c = Number((await tx.get(key(to)))?.toString())
            tx.set(key(from), Buffer.from(String(a - amount)))
            tx.set(key(to), Buffer.from(String(c + amount)))
          }, { initialBackoffMs: 1, maxBackoffMs: 20 })
        }
      }
      await Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)))
      const rows = await kv.transact((tx) => tx.getRange(...rangeOf(pack(['acct']))))
      t.equal(rows.reduce((s, r) => s + Number(r.value.toString()), 0), accounts * 100, 'total conserved')
      t.ok(kv.stats.conflicts > 0, `conflicts happened and were retried (${kv.stats.conflicts})`)
      t.equal(audits, 24)
    })
  })
}

function rangeOf(prefix: Buffer): [Buffer, Buffer] {
  return [Buffer.concat([prefix, b('\x00')]), Buffer.concat([prefix, b('\xff')])]
}
