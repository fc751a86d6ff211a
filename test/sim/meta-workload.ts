/**
 * What the simulated clients do: random mixes of every namespace operation over a small set of
 * names (a, b, c three levels deep), so entries collide, directories are renamed across and into
 * each other, hard links and symlinks cross the tree, open files are removed, and trees are
 * removed recursively while others work in them. Each request is recorded with its model form
 * and the answer the client finally got.
 */
import type { MetaClient } from '../../actors/meta/meta-client.ts'
import type { MetaRequest } from '../../actors/meta/protocol.ts'
import type { Random } from '../../runtime/random.ts'
import { isErrno } from '../../actors/meta/errors.ts'
import type { ModelOp, Outcome } from './meta-model.ts'

export interface Issued {
  readonly clientId: string
  readonly requestId: string
  readonly op: ModelOp
  /** The client's final answer; undefined while in flight, 'lost' if it gave up. */
  ack?: Outcome | 'lost'
}

export interface OpenHandle {
  readonly inode: number
  readonly session: string
}

const NAMES = ['a', 'b', 'c']

function randomPath(random: Random, maxDepth = 3): string {
  const x = random.next()
  const depth = Math.min(maxDepth, x < 0.45 ? 1 : x < 0.8 ? 2 : 3)
  return '/' + Array.from({ length: depth }, () => NAMES[random.int(NAMES.length)]).join('/')
}

function pick<T>(random: Random, weighted: readonly [number, T][]): T {
  const total = weighted.reduce((n, [w]) => n + w, 0)
  let x = random.next() * total
  for (const [w, v] of weighted) {
    if ((x -= w) < 0) return v
  }
  return weighted[weighted.length - 1][1]
}

/** One random request: its model form and the message the client sends. */
/** A request as the workload builds it (typed by the client at the call). */
type SimRequest = { readonly type: MetaRequest['type']; readonly [key: string]: unknown }

export function randomRequest(random: Random, open: OpenHandle[], sessionSeq: () => string): { op: ModelOp; msg: SimRequest; handle?: string } {
  const kind = pick(random, [[18, 'mkdir'], [18, 'create'], [open.length > 0 ? 10 : 0, 'close'], [12, 'remove'], [16, 'rename'], [5, 'hard-link'], [5, 'symlink'], [8, 'stat'], [4, 'list'], [4, 'chmod']] as const)
  const path = randomPath(random)
  switch (kind) {
    case 'mkdir': {
      const perm = random.next() < 0.5 ? 0o755 : 0o700
      return { op: { type: 'mkdir', path, perm }, msg: { type: 'mkdirs', path: { path }, perm, recursive: false } }
    }
    case 'create': {
      const excl = random.next() < 0.5
      const session = random.next() < 0.5 ? sessionSeq() : undefined
      return { op: { type: 'create', path, excl, perm: 0o644 }, msg: { type: 'create', path: { path }, flags: { access: 'write', excl }, perm: 0o644, ...(session === undefined ? {} : { session }) }, handle: session }
    }
    case 'close': {
      const handle = open.splice(random.int(open.length), 1)[0]
      const hint = random.int(1 << 20)
      return { op: { type: 'close', inode: handle.inode, hint }, msg: { type: 'close', inode: handle.inode, session: handle.session, updateLength: true, lengthHint: { length: hint, truncateVer: 0 } } }
    }
    case 'remove': {
      const recursive = random.next() < 0.25
      const checkType = pick(random, [[2, undefined], [1, 'file' as const], [1, 'directory' as const]])
      return { op: { type: 'remove', path, recursive, checkType }, msg: { type: 'remove', path: { path }, recursive, ...(checkType === undefined ? {} : { checkType }) } }
    }
    case 'rename': {
      const dst = randomPath(random)
      return { op: { type: 'rename', src: path, dst }, msg: { type: 'rename', src: { path }, dst: { path: dst } } }
    }
    case 'hard-link': {
      const to = randomPath(random)
      return { op: { type: 'hard-link', oldPath: path, newPath: to }, msg: { type: 'hard-link', oldPath: { path }, newPath: { path: to } } }
    }
    case 'symlink': {
      const target = random.next() < 0.6 ? randomPath(random, 2) : NAMES[random.int(NAMES.length)]
      return { op: { type: 'symlink', path, target }, msg: { type: 'symlink', path: { path }, target } }
    }
    case 'stat': {
      const follow = random.next() < 0.7
      return { op: { type: 'stat', path, follow }, msg: { type: 'stat', path: { path }, follow } }
    }
    case 'list':
      return { op: { type: 'list', path }, msg: { type: 'list', path: { path } } }
    case 'chmod': {
      const perm = [0o755, 0o700, 0o777][random.int(3)]
      return { op: { type: 'chmod', path, perm }, msg: { type: 'set-attr', path: { path }, attrs: { perm } } }
    }
  }
}

/** Sends one request and records its final answer. */
export async function issue(client: MetaClient, random: Random, open: OpenHandle[], history: Issued[], sessionSeq: () => string): Promise<void> {
  const { op, msg, handle } = randomRequest(random, open, sessionSeq)
  const requestId = client.newRequestId()
  const record: Issued = { clientId: client.clientId, requestId, op }
  history.push(record)
  try {
    const value = await client.request({ ...msg, requestId } as Parameters<MetaClient['request']>[0])
    record.ack = { ok: true, value }
    if (handle !== undefined) open.push({ inode: (value as { inode: { id: number } }).inode.id, session: handle })
  } catch (error) {
    record.ack = isErrno(error) ? { ok: false, errno: error.code } : 'lost'
  }
}
