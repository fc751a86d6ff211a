/**
 * A storage client's update channels (3FS UpdateChannelAllocator, reference/3fs.md §3.3 step 3):
 * one update per channel at a time, a process-wide seqnum growing with every new update; a retry
 * keeps its tag, so each replica applies it once.
 *
 * A channel whose update failed is retired, not reused: the update may still be on its way
 * through the chain, and a newer update on the same channel overtaking it at one replica would
 * make it an "old duplicate" there while another replica applies it. A fresh channel id takes its
 * place (replicas forget channels least recently used first), so at most `channels` are in use.
 */
import { T3fsError } from '../../../runtime/errors.ts'
import type { MessageTag } from '../protocol.ts'

/** 3FS's pool size. */
export const updateChannelsMax = 1024

export class UpdateChannels {
  private readonly free: number[]
  private seqnum = 0
  private requestId = 0
  private nextId: number

  constructor(private readonly clientId: string, private readonly channels = updateChannelsMax) {
    this.free = Array.from({ length: channels }, (_, i) => channels - i)
    this.nextId = channels + 1
  }

  /** A fresh tag on a free channel; ERR_STORAGE_BUSY when all are in use. */
  acquire(): MessageTag {
    const id = this.free.pop()
    if (id === undefined) throw new T3fsError('ERR_STORAGE_BUSY', `all ${this.channels} update channels of client ${this.clientId} are in use; wait for updates to finish`, {})
    return { clientId: this.clientId, requestId: ++this.requestId, channel: { id, seqnum: ++this.seqnum } }
  }

  /** The update is over: its channel is free again, or retired for a fresh one when the update failed. */
  release(tag: MessageTag, failed = false): void {
    this.free.push(failed ? this.nextId++ : tag.channel.id)
  }

  get inUse(): number {
    return this.channels - this.free.length
  }
}
