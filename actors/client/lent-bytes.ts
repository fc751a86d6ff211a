/**
 * Bytes a caller lends the FileClient for one write instead of handing them over to be copied: they
 * already sit in a registered region (a FUSE request's pool slot), so a chain head can pull them
 * straight from there. The write-behind buffer would otherwise copy every 1 MiB FUSE WRITE into an
 * I/O buffer of its own first; that copy was a fifth of the mount node's CPU on a write stream.
 *
 * The lender keeps the memory unchanged until every `retain` has been released: the FileClient
 * retains it for as long as the bytes may still be pulled (a retried write pulls them again).
 */
import type { ClientBuffer } from '../storage/client/storage-client.ts'

export interface LentBytes {
  /** The region the bytes are in; `source.buffer.bytes` views the whole region. */
  readonly source: ClientBuffer & { readonly region: NonNullable<ClientBuffer['region']> }
  /** Where the write's data starts in `source` (its bytes equal the `data` passed with it). */
  readonly offset: number
  /** Keeps the bytes as they are until the returned function is called (once; more calls do nothing). */
  retain(): () => void
}
