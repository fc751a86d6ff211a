/**
 * Values of meta's KV records are msgpack (msgpackr, plain maps: no record extension, so any
 * reader decodes them). A value that does not decode is a corrupt or foreign store: EIO, naming
 * the record kind.
 */
import { Packr } from 'msgpackr'
import { metaError } from './errors.ts'

const packr = new Packr({ useRecords: false, moreTypes: false })

export function encodeValue(value: unknown): Buffer {
  return packr.pack(value)
}

export function decodeValue<T>(bytes: Uint8Array, kind: string): T {
  try {
    return packr.unpack(bytes) as T
  } catch (error) {
    throw metaError('EIO', `a stored ${kind} record does not decode (${(error as Error).message}); the KV holds corrupt or foreign data`, { kind })
  }
}
