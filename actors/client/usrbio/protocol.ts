/**
 * USRBIO's control channel: JSON lines over a unix-domain stream socket (the server's
 * `socket_path`). The same connection is the doorbell both ways — `submit` after filling SQEs,
 * `{"ev":"cq"}` after filling CQEs — and its lifetime is the registration's: when the client
 * process dies the kernel closes the socket, and the server drops its regions, rings and files.
 *
 * Why a socket and not a futex, an eventfd or a FIFO: a futex needs a thread blocked per waiter
 * (the server's event loop cannot block, and polling burns a core); an eventfd has to be passed
 * with SCM_RIGHTS, which Node's net module cannot do; a FIFO has no notion of "the other side
 * died" while the server keeps it open. A unix socket is poll-able from every language, found by
 * path by unrelated processes, carries the control requests too, and tells the server at once
 * when a client goes away. The cost is one small write per batch, not per I/O.
 *
 * Requests (client → server; `id` is echoed in the reply):
 *   {id, op: "create-region", sizeBytes}        → {id, ok: true, region, sizeBytes, path}
 *   {id, op: "create-ring", entries}            → {id, ok: true, ring, entries, path}
 *       the server makes the memory (a memfd whose size is sealed, so no process can shrink it
 *       under the server's mapping) and the client maps `path` (/proc/<server pid>/fd/<n>), then
 *   {id, op: "mapped", object}                  → {id, ok: true}   (the server closes that fd)
 *   {id, op: "register-region", name}           → {id, ok: true, region, sizeBytes}
 *       (memory the client made: /dev/shm/<name>; see the README for the truncation caveat)
 *   {id, op: "unregister-region", region}       → {id, ok: true}
 *   {id, op: "register-ring", name}             → {id, ok: true, ring, entries}
 *   {id, op: "open", path, write?, create?, trunc?} → {id, ok: true, fd, sizeBytes, mtimeMs}
 *   {id, op: "close", fd}                       → {id, ok: true}
 *   {op: "submit", ring}                        (no reply: completions follow as CQEs)
 * Failures: {id, ok: false, code, message}. Events (server → client): {ev: "cq", ring}.
 */
import { T3fsError } from '../../../runtime/errors.ts'
import { checkEntries, MAX_REGION_BYTES } from './layout.ts'

export type UsrbioRequest =
  | { id: number; op: 'create-region'; sizeBytes: number }
  | { id: number; op: 'create-ring'; entries: number }
  | { id: number; op: 'mapped'; object: number }
  | { id: number; op: 'register-region'; name: string }
  | { id: number; op: 'unregister-region'; region: number }
  | { id: number; op: 'register-ring'; name: string }
  | { id: number; op: 'open'; path: string; write?: boolean; create?: boolean; trunc?: boolean }
  | { id: number; op: 'close'; fd: number }
  | { op: 'submit'; ring: number }

export type UsrbioReply =
  | { id: number; ok: true; [field: string]: unknown }
  | { id: number; ok: false; code: string; message: string }

const OPS = ['create-region', 'create-ring', 'mapped', 'register-region', 'unregister-region', 'register-ring', 'open', 'close', 'submit']

const badRequest = (message: string): T3fsError => new T3fsError('ERR_USRBIO_REQUEST', message)

function uint(r: Record<string, unknown>, field: string): number {
  const v = r[field]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw badRequest(`${String(r.op)}: field ${field} is ${JSON.stringify(v)}; accepted: an integer from 0 to 4294967295`)
  return v
}

function optionalBool(r: Record<string, unknown>, field: string): void {
  if (r[field] !== undefined && typeof r[field] !== 'boolean') throw badRequest(`${String(r.op)}: field ${field} is ${JSON.stringify(r[field])}; accepted: true or false`)
}

/** Checks one parsed line; throws ERR_USRBIO_REQUEST naming the field and what is accepted. */
export function parseRequest(value: unknown): UsrbioRequest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest(`a request is a JSON object, got ${JSON.stringify(value)}`)
  const r = value as Record<string, unknown>
  if (typeof r.op !== 'string' || !OPS.includes(r.op)) throw badRequest(`op is ${JSON.stringify(r.op)}; accepted: ${OPS.join(', ')}`)
  if (r.op === 'submit') {
    uint(r, 'ring')
    return r as UsrbioRequest
  }
  uint(r, 'id')
  switch (r.op) {
    case 'register-region':
    case 'register-ring':
      if (typeof r.name !== 'string') throw badRequest(`${r.op}: field name is ${JSON.stringify(r.name)}; accepted: a file name in /dev/shm`)
      break
    case 'unregister-region':
      uint(r, 'region')
      break
    case 'create-region':
      if (typeof r.sizeBytes !== 'number' || !Number.isSafeInteger(r.sizeBytes) || r.sizeBytes < 1 || r.sizeBytes > MAX_REGION_BYTES) throw badRequest(`create-region: field sizeBytes is ${JSON.stringify(r.sizeBytes)}; accepted: an integer from 1 to ${MAX_REGION_BYTES}`)
      break
    case 'create-ring':
      checkEntries(r.entries)
      break
    case 'mapped':
      uint(r, 'object')
      break
    case 'open':
      if (typeof r.path !== 'string' || !r.path.startsWith('/')) throw badRequest(`open: field path is ${JSON.stringify(r.path)}; accepted: an absolute path in t3fs`)
      for (const f of ['write', 'create', 'trunc']) optionalBool(r, f)
      break
    case 'close':
      uint(r, 'fd')
      break
  }
  return r as UsrbioRequest
}
