/**
 * Which operation a request runs as one KV transaction on the server that has it, whether that
 * transaction writes (its path walk then reads with conflicts) and whether it is recorded for
 * idempotency. Requests batched on an owner (create of a new entry; close, sync, truncate and
 * setAttr by inode) and those that are not one transaction (statFs, users, session listing and
 * pruning) are handled by the actor itself.
 */
import type { OpContext } from './op-context.ts'
import { getLockOp, lockOp, releaseLocksOp } from './posix-locks.ts'
import { IDEMPOTENT_TYPES, type MetaRequest } from './protocol.ts'
import { createOp } from './ops/create.ts'
import { hardLinkOp } from './ops/hard-link.ts'
import { listOp } from './ops/list.ts'
import { lockDirectoryOp } from './ops/lock-directory.ts'
import { mkdirsOp } from './ops/mkdirs.ts'
import { openOp, writes } from './ops/open.ts'
import { removeOp } from './ops/remove.ts'
import { renameOp } from './ops/rename.ts'
import { applySetAttr, writeSetAttr } from './ops/set-attr.ts'
import { symlinkOp } from './ops/symlink.ts'
import { batchStatByPathOp, batchStatOp, realPathOp, statOp } from './ops/stat.ts'
import { moveToTrashOp } from './ops/trash.ts'
import { displayPath, resolvePath } from './path-resolve.ts'
import { metaError } from './errors.ts'
import { mustGetInode } from './store.ts'

export interface DirectOp {
  readonly writes: boolean
  readonly idempotent: boolean
  run(ctx: OpContext): Promise<unknown>
}

export type DirectRequest = Extract<
  MetaRequest,
  { type: 'stat' | 'batch-stat' | 'batch-stat-by-path' | 'create' | 'open' | 'mkdirs' | 'symlink' | 'hard-link' | 'remove' | 'rename' | 'move-to-trash' | 'list' | 'get-real-path' | 'set-attr' | 'lock-directory' | 'lock' | 'get-lock' | 'release-locks' }
>

const op = (msg: MetaRequest, writes: boolean, run: (ctx: OpContext) => Promise<unknown>): DirectOp => ({ writes, idempotent: writes && IDEMPOTENT_TYPES.has(msg.type), run })

export function directOp(msg: DirectRequest): DirectOp {
  switch (msg.type) {
    case 'stat':
      return op(msg, false, (ctx) => statOp(ctx, msg))
    case 'batch-stat':
      return op(msg, false, (ctx) => batchStatOp(ctx, msg.inodes))
    case 'batch-stat-by-path':
      return op(msg, false, (ctx) => batchStatByPathOp(ctx, msg.paths, msg.follow !== false))
    case 'create':
      return op(msg, true, (ctx) => createOp(ctx, msg))
    case 'open':
      return op(msg, writes(msg.flags), (ctx) => openOp(ctx, msg))
    case 'mkdirs':
      return op(msg, true, (ctx) => mkdirsOp(ctx, msg))
    case 'symlink':
      return op(msg, true, (ctx) => symlinkOp(ctx, msg))
    case 'hard-link':
      return op(msg, true, (ctx) => hardLinkOp(ctx, msg))
    case 'remove':
      return op(msg, true, (ctx) => removeOp(ctx, msg))
    case 'rename':
      return op(msg, true, (ctx) => renameOp(ctx, msg))
    case 'move-to-trash':
      return op(msg, true, (ctx) => moveToTrashOp(ctx, msg))
    case 'list':
      return op(msg, false, (ctx) => listOp(ctx, msg))
    case 'get-real-path':
      return op(msg, false, (ctx) => realPathOp(ctx, msg))
    case 'set-attr':
      return op(msg, true, (ctx) => setAttrByPath(ctx, msg))
    case 'lock-directory':
      return op(msg, true, (ctx) => lockDirectoryOp(ctx, msg))
    case 'lock':
      return op(msg, true, (ctx) => lockOp(ctx, msg))
    case 'get-lock':
      return op(msg, false, (ctx) => getLockOp(ctx, msg))
    case 'release-locks':
      return op(msg, true, (ctx) => releaseLocksOp(ctx, msg))
  }
}

/** setAttr by path: resolved and applied here (by inode it goes to the owner's batch). */
async function setAttrByPath(ctx: OpContext, msg: Extract<MetaRequest, { type: 'set-attr' }>): Promise<unknown> {
  if (msg.path === undefined) throw metaError('EINVAL', 'set-attr by inode runs on the owner')
  const resolved = await resolvePath(ctx, msg.path, msg.follow !== false)
  const what = displayPath(resolved)
  if (resolved.name !== '' && resolved.entry === null) throw metaError('ENOENT', `${what} does not exist`, { path: what })
  const inode = await mustGetInode(ctx.tx, resolved.name === '' ? resolved.parent.id : (resolved.entry?.id as number), what)
  const next = applySetAttr(ctx, inode, msg.attrs, what)
  await writeSetAttr(ctx.tx, inode, next)
  return next
}
