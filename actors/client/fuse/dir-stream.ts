/**
 * One open directory as READDIR/READDIRPLUS see it: "." and "..", then the directory's entries in
 * meta's name order, fetched a page at a time. The kernel's offset is the index of the next entry
 * (each dirent's `off` is its index + 1), so a stream keeps only a window of entries: reading on
 * from the window's end fetches the next page after its last name; an offset below the window
 * (rewinddir, seekdir back) lists again from the start. Memory per open directory is one page.
 */
import type { DirEntry, FileClient, InodeId } from '../file-client.ts'

export const PAGE_ENTRIES = 512

export interface StreamEntry {
  readonly name: string
  /** Node id of the entry (for "." and ".." too). */
  readonly nodeid: bigint
  readonly entry: DirEntry | null
}

export class DirStream {
  /** Entries window[0] is at index `base`. */
  #window: StreamEntry[] = []
  #base = 0
  #more = true
  #after: string | undefined

  constructor(
    private readonly client: FileClient,
    private readonly dir: InodeId,
    private readonly self: bigint,
    private readonly parent: bigint,
    private readonly withStat: boolean,
  ) {
    this.#restart()
  }

  #restart(): void {
    this.#window = [{ name: '.', nodeid: this.self, entry: null }, { name: '..', nodeid: this.parent, entry: null }]
    this.#base = 0
    this.#more = true
    this.#after = undefined
  }

  /**
   * The entries from index `offset` on that are in memory now, fetching pages until there is at
   * least one or the directory ends: [] means the end of the directory.
   */
  async from(offset: number, nodeidOf: (inode: InodeId) => bigint): Promise<{ entries: readonly StreamEntry[]; base: number }> {
    if (offset < this.#base) this.#restart()
    while (offset >= this.#base + this.#window.length && this.#more) {
      const page = await this.client.readdir({ inode: this.dir }, { ...(this.#after === undefined ? {} : { after: this.#after }), limit: PAGE_ENTRIES, withStat: this.withStat })
      this.#base += this.#window.length
      this.#window = page.entries.map((e) => ({ name: e.name, nodeid: nodeidOf(e.inode), entry: e }))
      this.#more = page.more && page.entries.length > 0
      this.#after = page.entries.at(-1)?.name ?? this.#after
    }
    const start = offset - this.#base
    return { entries: start < this.#window.length ? this.#window.slice(start) : [], base: offset }
  }
}
