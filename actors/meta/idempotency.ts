/**
 * Idempotency records (reference/3fs.md §2.3 IDEM): a mutating request writes, in the same
 * transaction as its effects, a record keyed by (clientId, requestId) holding its answer; a retry
 * of that request (a lost reply, a client timeout, a commit whose outcome was unknown) finds the
 * record and gets the first answer without applying anything again. The record is read with a
 * read conflict, so two concurrent attempts of one request cannot both apply.
 *
 * The value starts with the commit's versionstamp (set by the KV at commit), then the answer: the
 * stamp says where the request took effect in the serial order of all transactions (for tools and
 * the simulation's reference model), `sub` its place within a batched transaction. Records expire
 * after `idempotentRecordExpireMs`; an expiry index (IDEX) makes cleanup a range read.
 * Refusals are recorded too (in the transaction that decided them, which then writes only the
 * record): an earlier attempt still on its way cannot apply a request whose client was already
 * told it failed.
 */
import { T3fsError, type WireError } from '../../runtime/errors.ts'
import { VERSIONSTAMP_BYTES, type Kv } from '../kv/index.ts'
import type { OpContext } from './op-context.ts'
import { expiredIdemRange, idemExpiryKey, idemKey, parseIdemExpiryKey } from './keys.ts'
import { decodeValue, encodeValue } from './value-codec.ts'

export interface IdemRecord {
  readonly result: unknown
  /** The refusal, when the request was refused. */
  readonly error?: WireError
  readonly timestampMs: number
  readonly sub: number
  readonly type: string
}

export interface StoredIdem extends IdemRecord {
  /** 10 bytes: the commit version (8, big-endian) and the batch order (2). */
  readonly versionstamp: Buffer
}

export function decodeIdem(bytes: Buffer): StoredIdem {
  return { ...decodeValue<IdemRecord>(bytes.subarray(VERSIONSTAMP_BYTES), 'idempotency'), versionstamp: Buffer.from(bytes.subarray(0, VERSIONSTAMP_BYTES)) }
}

/** The recorded answer of this request, if it was applied before (read with a conflict). */
export async function findApplied(ctx: OpContext): Promise<StoredIdem | null> {
  if (ctx.server.mutants.has('retry-not-idempotent')) return null
  const bytes = await ctx.tx.get(idemKey(ctx.clientId, ctx.requestId))
  return bytes === undefined ? null : decodeIdem(bytes)
}

/** The refusal a record holds, as the error it was. */
export function recordedError(record: IdemRecord): T3fsError | null {
  return record.error === undefined ? null : new T3fsError(record.error.code, record.error.message, record.error.details)
}

/** Records the answer (a result, or a refusal) with this transaction's effects. */
export function recordApplied(ctx: OpContext, type: string, result: unknown, sub: number, error?: T3fsError): void {
  const record: IdemRecord = error === undefined ? { result, timestampMs: ctx.nowMs, sub, type } : { result: null, timestampMs: ctx.nowMs, sub, type, error: error.toWire() }
  const body = encodeValue(record)
  // The versionstamp's place (zeros until the commit), then the answer: one allocation.
  const value = Buffer.allocUnsafe(VERSIONSTAMP_BYTES + body.length)
  value.fill(0, 0, VERSIONSTAMP_BYTES)
  body.copy(value, VERSIONSTAMP_BYTES)
  ctx.tx.setVersionstampedValue(idemKey(ctx.clientId, ctx.requestId), value, 0)
  ctx.tx.set(idemExpiryKey(ctx.nowMs + ctx.server.config.idempotentRecordExpireMs, ctx.clientId, ctx.requestId), Buffer.alloc(0))
}

/** Clears records expired at `nowMs`, at most `limit` per call; returns how many went. */
export async function cleanExpired(kv: Kv, nowMs: number, limit: number, timeoutMs: number): Promise<number> {
  return kv.transact(
    async (tx) => {
      const range = expiredIdemRange(nowMs)
      const rows = await tx.snapshot.getRange(range.begin, range.end, { limit })
      for (const row of rows) {
        const { clientId, requestId } = parseIdemExpiryKey(row.key)
        tx.clear(row.key)
        tx.clear(idemKey(clientId, requestId))
      }
      return rows.length
    },
    { timeoutMs },
  )
}
