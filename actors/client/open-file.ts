/**
 * What a client knows of one file it has open (3FS's RcInode, reference/3fs.md §5.1): the inode as
 * meta last returned it, the furthest byte this client wrote since the last truncate (the length
 * hint), the write-behind buffer and the read-aheads of its handles. All handles of the file in
 * this client share it; it goes when the last one closes.
 *
 * Operations that change what the file holds (write, flush, truncate) run one at a time through
 * `exclusive`, so buffered bytes are never reordered and a truncate never races a flush.
 */
import type { FileInode, Inode } from '../meta/index.ts'
import type { FileGeometry } from './chunk-io.ts'
import type { ReadAhead } from './read-ahead.ts'
import { WriteBehind, type WriteBehindEnv } from './write-behind.ts'

export class OpenFile {
  inode: FileInode
  /** The furthest byte this client wrote since the last truncate (0 if none). */
  localEnd = 0
  /** The length meta last heard from this client (hint or exact); below localEnd → a hint is due. */
  reportedEnd = 0
  /** This client wrote to the file since it opened it. */
  written = false
  handles = 0
  readonly writes: WriteBehind
  readonly readAheads = new Set<ReadAhead>()
  private tail: Promise<unknown> = Promise.resolve()

  private readonly mutants: ReadonlySet<string>

  constructor(inode: FileInode, env: WriteBehindEnv) {
    this.mutants = env.mutants
    this.inode = inode
    this.reportedEnd = inode.file.length
    this.writes = new WriteBehind(env, () => this.geometry)
  }

  get geometry(): FileGeometry {
    return { inodeId: this.inode.id, layout: this.inode.file.layout }
  }

  /** The length as this client knows it: meta's, or further if it wrote further. */
  get length(): number {
    return Math.max(this.inode.file.length, this.localEnd)
  }

  /** A length hint is due: this client wrote past what meta heard. */
  get dirty(): boolean {
    return this.localEnd > this.reportedEnd || !this.writes.idle
  }

  /** Takes a newer inode from meta. A new truncate generation resets what this client wrote. */
  adopt(inode: Inode): void {
    if (inode.type !== 'file' || inode.id !== this.inode.id) return
    if (inode.file.truncateVer !== this.inode.file.truncateVer) {
      this.localEnd = Math.min(this.localEnd, inode.file.length)
      this.reportedEnd = inode.file.length
    } else {
      this.reportedEnd = Math.max(this.reportedEnd, inode.file.length)
    }
    this.inode = inode
  }

  noteWrite(end: number): void {
    this.written = true
    if (end > this.localEnd) this.localEnd = end
    if (!this.mutants.has('stale-readahead')) this.dropReadAheads()
  }

  dropReadAheads(): void {
    for (const r of this.readAheads) r.drop()
  }

  /** Runs `work` after every earlier exclusive operation of this file settled. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work)
    this.tail = run.then(() => {}, () => {})
    return run
  }
}
