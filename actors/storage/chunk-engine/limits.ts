/** The chunk engine's fixed limits and defaults (every queue and buffer has a named maximum). */

export const KiB = 1024
export const MiB = 1024 * 1024

/** Block sizes: powers of two from 64 KiB to 64 MiB (11 classes, as 3FS's chunk engine). */
export const blockBytesMin = 64 * KiB
export const blockBytesMax = 64 * MiB
export const sizeClassCount = 11
/** A chunk is at most one block of the largest class. */
export const chunkBytesMax = blockBytesMax

/** Versions and chain versions are u32 (3FS); ids of chains too. */
export const u32Max = 0xffff_ffff
export const clientIdBytesMax = 64

/** Blocks per group at most (a group is reserved with one fallocate and punched when empty). */
export const groupBlocksMax = 256
/** Default: groups of up to 64 MiB (256 × 64 KiB blocks = 16 MiB; 64 × 1 MiB; 1 × 64 MiB). */
export const groupBytesMaxDefault = 64 * MiB
/** Group files per size class (groups are spread over them round robin). */
export const filesPerClassDefault = 16
export const filesPerClassMax = 256
/** Checksum segments: each has its own CRC32C so a read checks only what it touches. */
export const checksumSegmentBytesDefault = 64 * KiB
export const checksumSegmentBytesMin = 4 * KiB
export const checksumSegmentBytesMax = 1 * MiB

/** Index records per group commit at most (one log write and one fsync for all of them). */
export const commitBatchMaxDefault = 4096
export const commitBatchMaxLimit = 65_536
/** A log segment past this is sealed and folded into a snapshot. */
export const logSegmentBytesDefault = 64 * MiB
export const logSegmentBytesMin = 4 * KiB
export const logSegmentBytesLimit = 1024 * MiB
/** One index record at most (a 64 MiB chunk with 4 KiB checksum segments needs 64 KiB of CRCs). */
export const recordBytesMax = 80 * KiB
/** Operations waiting for one chunk's lock at most; more is ERR_CHUNK_BUSY. */
export const lockWaitersMaxDefault = 256
export const lockWaitersMaxLimit = 65_536
/** Pieces of one update written concurrently at most (an update larger than a pool slot is written in pieces). */
export const piecesInFlightMax = 4
/** A piece (and a scratch buffer) is at most this large. */
export const pieceBytesMax = 4 * MiB
/** How long an operation waits for a pool slot before ERR_POOL_EXHAUSTED. */
export const bufferWaitMsDefault = 5_000
/** A read whose bytes fail their checksum is read again this many times before ERR_CHUNK_CORRUPT (a flipped bit on the way is not a bad disk). */
export const readRetriesMax = 1
/** Results of one query at most. */
export const queryLimitMax = 1_000_000
