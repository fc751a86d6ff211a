/** Ordered-bytes helpers: keys compare as unsigned bytes (Buffer.compare). */

export type Bytes = Uint8Array

export function compareBytes(a: Bytes, b: Bytes): number {
  return Buffer.compare(a, b)
}

export function asBuffer(bytes: Bytes): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** A private copy, so a caller mutating its array later cannot change a buffered write. */
export function copyBytes(bytes: Bytes): Buffer {
  return Buffer.from(bytes)
}

/** The first key after `key` in byte order: key + 0x00. */
export function keyAfter(key: Bytes): Buffer {
  const out = Buffer.allocUnsafe(key.length + 1)
  out.set(key, 0)
  out[key.length] = 0
  return out
}

/**
 * The first key that does not start with `prefix` (FDB's strinc): drop trailing 0xff bytes, then
 * increment the last byte. Throws on an all-0xff (or empty) prefix, which has no successor.
 */
export function prefixEnd(prefix: Bytes): Buffer {
  let end = prefix.length
  while (end > 0 && prefix[end - 1] === 0xff) end--
  if (end === 0) throw new RangeError('prefixEnd: the prefix is empty or all 0xff bytes and has no successor')
  const out = Buffer.from(prefix.subarray(0, end))
  out[end - 1]++
  return out
}

/** Map key that sorts like the bytes: latin1 maps each byte to one UTF-16 code unit. */
export function byteKey(bytes: Bytes): string {
  return asBuffer(bytes).toString('latin1')
}

export function fromByteKey(key: string): Buffer {
  return Buffer.from(key, 'latin1')
}

/** Big-endian u64 bytes of a non-negative bigint. */
export function u64be(value: bigint): Buffer {
  const out = Buffer.allocUnsafe(8)
  out.writeBigUInt64BE(value)
  return out
}
