/**
 * A storage client's update channels (3FS UpdateChannelAllocator, reference/3fs.md §3.3 step 3):
 * one update per channel at a time, a process-wide seqnum growing with every new update; a retry
 * keeps its tag, so each replica applies it once.
 */
import { T3fsError } from '../../../runtime/errors.ts'
import type { MessageTag } from '../protocol.ts'

/** 3FS's pool size. */
export const updateChannelsMax = 1024

export class UpdateChannels {
  private readonly free: number[]
  private seqnum = 0
  private requestId = 0

  constructor(private readonly clientId: string, private readonly channels = updateChannelsMax) {
    this.free = Array.from({ length: channels }, (_, i) => channels - i)
  }

  /** A fresh tag on a free channel; ERR_STORAGE_BUSY when all are in use. */
  acquire(): MessageTag {
    const id = this.free.pop()
    if (id === undefined) throw new T3fsError('ERR_STORAGE_BUSY', `all ${this.channels} update channels of client ${this.clientId} are in use; wait for updates to finish`, {})
    return { clientId: this.clientId, requestId: ++this.requestId, channel: { id, seqnum: ++this.seqnum } }
  }

  release(tag: MessageTag): void {
    this.free.push(tag.channel.id)
  }

  get inUse(): number {
    return this.channels - this.free.length
  }
}
