/**
 * An in-process fake of the slice of the `foundationdb` package the fdb backend uses, built on the
 * memory engine. It lets the fdb adapter (prefixing, versionstamp offsets, FDB error-code mapping,
 * snapshot views) run the conformance suite on a machine without libfdb_c. It is not FoundationDB.
 */
import type { FdbDatabase, FdbModule, FdbRawTransaction } from '../../../actors/kv/fdb-backend.ts'
import { KvErrorCode } from '../../../actors/kv/errors.ts'
import { LocalTransaction } from '../../../actors/kv/local-transaction.ts'
import { MemoryEngine } from '../../../actors/kv/memory-backend.ts'
import type { Clock } from '../../../runtime/clock.ts'
import { T3fsError } from '../../../runtime/errors.ts'

const TO_FDB: Record<string, number> = {
  [KvErrorCode.NOT_COMMITTED]: 1020,
  [KvErrorCode.TXN_TOO_OLD]: 1007,
  [KvErrorCode.TXN_TOO_LARGE]: 2101,
  [KvErrorCode.KEY_TOO_LARGE]: 2102,
  [KvErrorCode.VALUE_TOO_LARGE]: 2103,
}

/** Rethrows our coded errors the way the foundationdb package would: an Error with a numeric code. */
async function asFdb<T>(p: Promise<T> | T): Promise<T> {
  try {
    return await p
  } catch (error) {
    if (error instanceof T3fsError && TO_FDB[error.code] !== undefined) {
      throw Object.assign(new Error(`fake fdb: ${error.message}`), { code: TO_FDB[error.code] })
    }
    throw error
  }
}

function u64be(v: bigint): Buffer {
  const out = Buffer.alloc(8)
  out.writeBigInt64BE(v)
  return out
}

function rawOver(tx: LocalTransaction, snapshot: boolean): FdbRawTransaction {
  const reads = snapshot ? tx.snapshot : tx
  return {
    get: (key) => asFdb(reads.get(key)),
    getRangeAll: async (start, end, opts) => (await asFdb(reads.getRange(start, end, opts))).map((r) => [r.key, r.value] as [Buffer, Buffer]),
    snapshot: () => rawOver(tx, true),
    set: (key, value) => tx.set(key, value),
    clear: (key) => tx.clear(key),
    clearRange: (start, end) => tx.clearRange(start, end),
    atomicOpNative: (op, key, param) => {
      if (op === 2) return tx.add(key, param)
      if (op === 14) return tx.setVersionstampedKey(key.subarray(0, key.length - 4), key.readUInt32LE(key.length - 4), param)
      if (op === 15) return tx.setVersionstampedValue(key, param.subarray(0, param.length - 4), param.readUInt32LE(param.length - 4))
      throw new Error(`fake fdb: mutation type ${op} not modelled`)
    },
    addReadConflictRange: (start, end) => tx.addReadConflictRange(start, end),
    addWriteConflictRange: (start, end) => tx.addWriteConflictRange(start, end),
    getReadVersion: async () => u64be(await asFdb(tx.getReadVersion())),
    getCommittedVersion: () => u64be(tx.getCommittedVersion()),
    getVersionstamp: () => tx.getVersionstamp(),
    rawCommit: () => asFdb(tx.commit()),
    rawCancel: () => tx.cancel(),
  }
}

export function fakeFdbModule(clock: Clock): FdbModule {
  // Roomier than the adapter's limits: the adapter enforces those on unprefixed keys itself.
  const engine = new MemoryEngine({ clock, limits: { maxKeyBytes: 20_000, maxValueBytes: 200_000, maxTxnBytes: 100_000_000, maxTxnAgeMs: 5_000 } })
  const db: FdbDatabase = {
    rawCreateTransaction: () => rawOver(new LocalTransaction(engine, clock), false),
    close: () => {},
  }
  return { setAPIVersion: () => {}, open: () => db }
}
