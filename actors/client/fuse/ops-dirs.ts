/**
 * Requests on open directories: OPENDIR, READDIR, READDIRPLUS, RELEASEDIR, FSYNCDIR.
 *
 * READDIRPLUS hands the kernel each entry's attributes with its name (one meta list with
 * status per page), which counts as a lookup of every entry the reply holds: the inode table
 * records those, and only those (a reply stops where the kernel's buffer is full).
 */
import type { FuseDevice } from '../../../runtime/fuse-device.ts'
import { attrOf, direntType, inodeOf, nodeidOf, ROOT_NODEID } from './attrs.ts'
import { DirStream, type StreamEntry } from './dir-stream.ts'
import { DirentType, encodeDirents, encodeDirentsPlus, encodeEmpty, encodeOpen, type DirentPlus, type Request, type RequestKind, type RequestOf } from './kernel-protocol.ts'
import { snapshotOf, type FuseSession } from './session.ts'

export const DIR_OPS: ReadonlySet<RequestKind> = new Set<RequestKind>(['OPENDIR', 'READDIR', 'READDIRPLUS', 'RELEASEDIR', 'FSYNCDIR'])

export type DirRequest = RequestOf<'OPENDIR' | 'READDIR' | 'READDIRPLUS' | 'RELEASEDIR' | 'FSYNCDIR'>
export const isDirOp = (r: Request): r is DirRequest => DIR_OPS.has(r.kind)

export async function serveDirOp(s: FuseSession, r: DirRequest, dev: FuseDevice): Promise<void> {
  const unique = r.header.unique
  switch (r.kind) {
    case 'OPENDIR': {
      const stat = await s.stat(r.header.nodeid)
      if (stat.type !== 'directory') throw Object.assign(new Error(`ENOTDIR: node ${r.header.nodeid}`), { code: 'ENOTDIR' })
      const parent = r.header.nodeid === ROOT_NODEID ? ROOT_NODEID : s.table.nameOf(r.header.nodeid)?.parent ?? ROOT_NODEID
      const stream = new DirStream(s.client, inodeOf(r.header.nodeid), r.header.nodeid, parent, true)
      const fh = s.handles.add({ kind: 'dir', nodeid: r.header.nodeid, stream })
      return s.reply(dev, (out) => encodeOpen(out, unique, { fh }))
    }
    case 'READDIR': {
      const { entries, base } = await s.handles.dir(r.fh).stream.from(Number(r.offset), nodeidOf)
      const dirents = entries.map((e) => ({ ino: e.nodeid, name: e.name, type: e.entry === null ? DirentType.DIR : direntType(e.entry.type) }))
      return s.reply(dev, (out) => encodeDirents(out, unique, dirents, 0, r.size, base).length)
    }
    case 'READDIRPLUS': return readdirPlus(s, r, dev)
    case 'RELEASEDIR': s.handles.remove(r.fh); return s.reply(dev, (out) => encodeEmpty(out, unique))
    // Namespace changes are durable once meta answered them: nothing to sync.
    case 'FSYNCDIR': s.handles.dir(r.fh); return s.reply(dev, (out) => encodeEmpty(out, unique))
  }
}

async function readdirPlus(s: FuseSession, r: RequestOf<'READDIRPLUS'>, dev: FuseDevice): Promise<void> {
  const { entries, base } = await s.handles.dir(r.fh).stream.from(Number(r.offset), nodeidOf)
  const plus: DirentPlus[] = entries.map((e) => plusOf(s, e))
  let counted = 0
  s.reply(dev, (out) => {
    const { length, count } = encodeDirentsPlus(out, r.header.unique, plus, 0, r.size, base)
    counted = count
    return length
  })
  // The kernel took a lookup of each entry it received with a node id.
  for (let i = 0; i < counted; i++) {
    const e = entries[i]!
    const stat = e.entry?.stat
    if (stat) s.table.lookedUp(e.nodeid, { parent: r.header.nodeid, name: e.name }, snapshotOf(stat))
  }
}

function plusOf(s: FuseSession, e: StreamEntry): DirentPlus {
  const stat = e.entry?.stat ?? null
  const type = e.entry === null ? DirentType.DIR : direntType(e.entry.type)
  if (stat === null) return { ino: e.nodeid, name: e.name, type, entry: null }
  return {
    ino: e.nodeid, name: e.name, type,
    entry: { nodeid: nodeidOf(stat.inode), entryValidSec: s.config.entryTimeoutMs / 1000, attrValidSec: s.attrTimeoutSec(stat), attr: attrOf(stat) },
  }
}
