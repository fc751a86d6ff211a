/**
 * Group-commit conformance: the concurrency cases only batching can break, demanded of every
 * backend that batches commits (memory, lmdb). A batch must come out exactly as if its members had
 * committed one after another in arrival order: a member that read what an earlier member wrote
 * conflicts, a member that fails leaves the others alone, versions and versionstamps follow the
 * arrival order, and a concurrent history is serializable in commit-version order.
 *
 * How a batch is formed on purpose: a "holder" transaction commits first and, finding nothing in
 * flight, is written at once; transactions started in the same turn reach commit while it is being
 * written (an LMDB fsync on its writer thread, or the memory backend's simulated write time) and
 * share the next batch, in the order they were started. `kv.stats.batches` proves it.
 */
import type { TAP } from 'tap'
import type { Kv, Transaction } from '../../../actors/kv/kv.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import { b, prng, type FactoryOptions, type KvFactory } from './conformance.ts'
import { checkHistory, type HistoryEntry } from './history-checker.ts'

const text = (v: Buffer | undefined): string | undefined => (v === undefined ? undefined : v.toString('latin1'))

/** Takes the in-flight slot: transactions started right after it share the next batch. */
const holder = (kv: Kv) => kv.transact((tx) => tx.set(b('holder'), b('x')))

/** Every member does one (snapshot) read first, so all reach commit in the order they started. */
const member = (kv: Kv, body: (tx: Transaction) => void | Promise<void>, options?: { maxRetries?: number }) =>
  kv.transactWithInfo(async (tx) => {
    await tx.snapshot.get(b('z'))
    await body(tx)
  }, options)

export function groupCommitConformance(t: TAP, name: string, open: KvFactory): void {
  const withKv = async (fn: (kv: Kv, batches: () => number) => Promise<void>, options?: FactoryOptions) => {
    const kv = await open(options)
    const batches = () => {
      if (kv.stats.batches === undefined) throw new Error(`${name}: kv.stats.batches is missing: the backend does not report group commits`)
      return kv.stats.batches
    }
    try {
      await fn(kv, batches)
    } finally {
      await kv.close()
    }
  }

  t.test(`${name}: a batch member that read what an earlier member wrote conflicts, as if they had committed one after the other`, async (t) => {
    await withKv(async (kv, batches) => {
      await kv.transact((tx) => tx.set(b('k'), b('0')))
      const before = batches()
      const seen: Array<string | undefined> = []
      const [, first, second] = await Promise.all([
        holder(kv),
        member(kv, (tx) => tx.set(b('k'), b('A'))),
        member(kv, async (tx) => {
          const v = text(await tx.get(b('k')))
          seen.push(v)
          tx.set(b('copy'), b(v ?? 'none'))
        }),
      ])
      t.equal(batches() - before, 3, 'batches: the holder; both members together; the retry')
      t.equal(first.info.attempts, 1, 'the earlier member commits')
      t.equal(second.info.attempts, 2, 'the later member read k before the earlier one wrote it: it conflicted')
      t.same(seen, ['0', 'A'], 'and its retry read the earlier member\'s write')
      t.equal(text(await kv.transact((tx) => tx.get(b('copy')))), 'A', 'no lost update')
      t.ok(second.info.committedVersion > first.info.committedVersion)
    })
  })

  t.test(`${name}: a failed member does not affect the others in its batch`, async (t) => {
    await withKv(async (kv, batches) => {
      await kv.transact((tx) => tx.set(b('k'), b('0')))
      const before = batches()
      const [hold, a, failed, c] = await Promise.allSettled([
        kv.transact((tx) => tx.set(b('k'), b('X'))),
        member(kv, (tx) => tx.set(b('a'), b('A'))),
        member(kv, async (tx) => {
          await tx.get(b('k'))
          tx.set(b('b'), b('B'))
        }, { maxRetries: 0 }),
        member(kv, (tx) => tx.set(b('c'), b('C'))),
      ])
      t.equal(batches() - before, 2, 'batches: the holder; the three members together')
      t.equal(hold.status, 'fulfilled')
      const reason = failed.status === 'rejected' ? (failed.reason as Error) : undefined
      t.ok(isT3fsError(reason, 'ERR_TXN_RETRY_LIMIT') && isT3fsError(reason.cause, 'ERR_NOT_COMMITTED'), 'the member that read k before the holder wrote it failed with its own conflict')
      if (a.status !== 'fulfilled' || c.status !== 'fulfilled') throw new Error('the members around the failed one must commit')
      t.equal(a.value.info.attempts, 1, 'the member before it committed first time')
      t.equal(c.value.info.attempts, 1, 'the member after it committed first time')
      t.equal(c.value.info.committedVersion, a.value.info.committedVersion + 1n, 'the failed member took no version')
      const stored = await kv.transact(async (tx) => [text(await tx.get(b('a'))), text(await tx.get(b('b'))), text(await tx.get(b('c'))), text(await tx.get(b('k')))])
      t.same(stored, ['A', undefined, 'C', 'X'], 'both neighbours written, nothing of the failed member')
    })
  })

  t.test(`${name}: members of one batch get consecutive versions and versionstamps in arrival order`, async (t) => {
    await withKv(async (kv, batches) => {
      const before = batches()
      const stamps: Array<Promise<Buffer>> = []
      const prefix = b('gc/')
      const [, ...members] = await Promise.all([
        holder(kv),
        ...Array.from({ length: 5 }, (_, i) => member(kv, (tx) => {
          tx.setVersionstampedKey(Buffer.concat([prefix, Buffer.alloc(10)]), prefix.length, b(`entry${i}`))
          tx.setVersionstampedValue(b(`ptr${i}`), Buffer.alloc(10))
          stamps[i] = tx.getVersionstamp().promise
        })),
      ])
      t.equal(batches() - before, 2, 'batches: the holder; the five members together')
      const versions = members.map((m) => m.info.committedVersion)
      t.ok(versions.every((v, i) => i === 0 || v === versions[i - 1] + 1n), `consecutive commit versions in arrival order: ${versions.join(' ')}`)
      const got = await Promise.all(stamps)
      t.same(got.map((s) => s.readBigUInt64BE(0)), versions, 'each stamp carries its own commit version')
      t.equal(new Set(got.map((s) => s.toString('hex'))).size, 5, 'stamps are unique within the batch')
      const rows = await kv.transact((tx) => tx.getRange(prefix, b('gc0')))
      t.same(rows.map((r) => text(r.value)), ['entry0', 'entry1', 'entry2', 'entry3', 'entry4'], 'versionstamped keys sort in arrival order')
      const ptrs = await kv.transact(async (tx) => Promise.all([0, 1, 2, 3, 4].map(async (i) => (await tx.get(b(`ptr${i}`)))?.toString('hex'))))
      t.same(ptrs, got.map((s) => s.toString('hex')), 'versionstamped values hold the same stamps')
    })
  })

  t.test(`${name}: explicit conflict ranges between members of one batch (a directory lock)`, async (t) => {
    await withKv(async (kv, batches) => {
      const before = batches()
      const [, locker, lister, outside] = await Promise.all([
        holder(kv),
        member(kv, (tx) => {
          tx.addWriteConflictRange(b('dir/'), b('dir0'))
          tx.set(b('lock-generation'), b('1'))
        }),
        member(kv, (tx) => {
          tx.addReadConflictRange(b('dir/'), b('dir0'))
          tx.set(b('dir-entry'), b('e'))
        }),
        member(kv, (tx) => {
          tx.addReadConflictKey(b('dir0'))
          tx.set(b('elsewhere'), b('o'))
        }),
      ])
      t.equal(batches() - before, 3, 'batches: the holder; the three together; the retry')
      t.equal(locker.info.attempts, 1, 'the lock (a write conflict range, no write in it) commits')
      t.equal(lister.info.attempts, 2, 'a later member of the batch whose read conflict range meets it retries')
      t.equal(outside.info.attempts, 1, 'one just past the half-open range does not')
    })
  })

  t.test(`${name}: concurrent increments, transfers and audits are serializable in commit-version order`, async (t) => {
    await withKv(async (kv, batches) => {
      const accounts = 6
      const counters = 3
      const acct = (i: number) => `acct/${i}`
      const ctr = (i: number) => `ctr/${i}`
      const initial = new Map<string, string>()
      for (let i = 0; i < accounts; i++) initial.set(acct(i), '100')
      for (let i = 0; i < counters; i++) initial.set(ctr(i), '0')
      const setup = await kv.transactWithInfo((tx) => {
        for (const [k, v] of initial) tx.set(b(k), b(v))
      })
      const history: HistoryEntry[] = []
      let increments = 0
      const commitsBefore = kv.stats.commits
      const batchesBefore = batches()
      const client = async (c: number) => {
        const rand = prng(1000 + c)
        for (let n = 0; n < 20; n++) {
          const r = rand()
          const kind = r < 0.45 ? 'transfer' : r < 0.8 ? 'increment' : 'audit'
          const from = Math.floor(rand() * accounts)
          const to = (from + 1 + Math.floor(rand() * (accounts - 1))) % accounts
          const which = Math.floor(rand() * counters)
          const amount = 1 + Math.floor(rand() * 20)
          const { value, info } = await kv.transactWithInfo(async (tx) => {
            const reads: Array<[string, string | undefined]> = []
            const writes: Array<[string, string]> = []
            const readVersion = await tx.getReadVersion()
            const read = async (key: string) => {
              const v = text(await tx.get(b(key)))
              reads.push([key, v])
              await new Promise((resolve) => setImmediate(resolve))
              return Number(v)
            }
            const write = (key: string, v: number) => {
              tx.set(b(key), b(String(v)))
              writes.push([key, String(v)])
            }
            if (kind === 'transfer') {
              const a = await read(acct(from))
              const z = await read(acct(to))
              write(acct(from), a - amount)
              write(acct(to), z + amount)
            } else if (kind === 'increment') {
              write(ctr(which), (await read(ctr(which))) + 1)
            } else {
              for (const row of await tx.getRange(b('acct/'), b('acct0'))) reads.push([text(row.key) as string, text(row.value)])
            }
            return { reads, writes, readVersion }
          }, { maxRetries: 10_000, initialBackoffMs: 1, maxBackoffMs: 10 })
          if (kind === 'increment') increments++
          history.push({ label: `client ${c} op ${n} (${kind})`, version: info.committedVersion, ...value })
        }
      }
      await Promise.all(Array.from({ length: 16 }, (_, c) => client(c)))
      const final = new Map((await kv.transact((tx) => tx.getRange(b(''), b('\xff')))).map((r) => [text(r.key) as string, text(r.value) as string]))
      const verdict = checkHistory(initial, setup.info.committedVersion, history, final)
      t.same(verdict.problems.slice(0, 5), [], `${history.length} transactions, ${verdict.checkedReads} reads: each read what the serial order gives it, and the store ends as the replay does`)
      let sum = 0
      for (let i = 0; i < accounts; i++) sum += Number(final.get(acct(i)))
      t.equal(sum, accounts * 100, 'transfers conserve the total')
      let counted = 0
      for (let i = 0; i < counters; i++) counted += Number(final.get(ctr(i)))
      t.equal(counted, increments, 'every acknowledged increment counted once')
      t.ok(kv.stats.conflicts > 0, `the workload conflicted (${kv.stats.conflicts} conflicts retried)`)
      const commits = kv.stats.commits - commitsBefore
      const written = batches() - batchesBefore
      t.ok(written < commits, `commits shared batches: ${commits} commits (with read-only ones) in ${written} batches`)
    })
  })

  t.test(`${name}: a batch is bounded in transactions and in bytes`, async (t) => {
    const started = (kv: Kv, sizes: number[]) =>
      Promise.all([holder(kv), ...sizes.map((size, i) => member(kv, (tx) => tx.set(b(`m${i}`), Buffer.alloc(size, 0x61))))])
    await withKv(async (kv, batches) => {
      const before = batches()
      await started(kv, [10, 10, 10, 10, 10])
      t.equal(batches() - before, 4, 'maxTxns 2: the holder, then 2 + 2 + 1')
    }, { groupCommit: { maxTxns: 2 } })
    await withKv(async (kv, batches) => {
      const before = batches()
      await started(kv, [200, 200, 200, 1000])
      t.equal(batches() - before, 5, 'maxBytes 300: each ~220-byte transaction alone; a 1000-byte one still goes, alone')
      t.equal((await kv.transact((tx) => tx.get(b('m3'))))?.length, 1000)
    }, { groupCommit: { maxBytes: 300 } })
    await withKv(async (kv, batches) => {
      const before = batches()
      await started(kv, [200, 200, 200, 200])
      t.equal(batches() - before, 2, 'maxBytes 1000: four ~220-byte transactions fit one batch')
    }, { groupCommit: { maxBytes: 1000 } })
  })
}
