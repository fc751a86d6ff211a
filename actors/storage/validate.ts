/**
 * Checks storage messages where they enter (the actors' `validate`): ids and versions are
 * non-negative safe integers, chunk ids 32 hex digits, ranges ordered, enums among their values.
 * Returns the reason a message is invalid, naming the field and what is accepted, or null.
 */
import { UPDATE_TYPES } from './protocol.ts'
import { checkBatchRead } from './batch-request.ts'

type Fields = Readonly<Record<string, unknown>>
type Check = (v: unknown) => boolean
type Rule = readonly [field: string, check: Check, accepted: string]

const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null
const isId: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isU32: Check = (v) => isId(v) && (v as number) <= 0xffff_ffff
const isChunkId: Check = (v) => typeof v === 'string' && /^[0-9a-f]{32}$/.test(v)
const optional = (check: Check): Check => (v) => v === undefined || check(v)
const isRange: Check = (v) => isObject(v) && isChunkId(v.begin) && isChunkId(v.end) && (v.begin as string) <= (v.end as string)
const isAddress: Check = (v) => isObject(v) && ['node', 'host', 'id', 'incarnation'].every((k) => isId(v[k]))
const isRegion: Check = (v) => isObject(v) && ['node', 'incarnation', 'regionId', 'length'].every((k) => isId(v[k]))
const isBytes: Check = (v) => v instanceof Uint8Array || (isObject(v) && v.bytes instanceof Uint8Array)
const isDataRef: Check = (v) =>
  isObject(v) && ((v.kind === 'region' && isRegion(v.region) && isId(v.offset)) || (v.kind === 'inline' && isBytes(v.bytes)) || v.kind === 'none')
const isKey: Check = (v) => isObject(v) && isId(v.chainId) && isId(v.chainVersion) && isChunkId(v.chunkId)
const isTag: Check = (v) => isObject(v) && typeof v.clientId === 'string' && (v.clientId as string).length > 0 && (v.clientId as string).length <= 128 && isId(v.requestId) && isObject(v.channel) && isId(v.channel.id) && isId(v.channel.seqnum)
const isUpdateIO: Check = (v) =>
  isObject(v) && isKey(v.key) && (UPDATE_TYPES as readonly unknown[]).includes(v.type) && isId(v.offset) && isId(v.length) && isId(v.chunkSizeBytes) && (v.chunkSizeBytes as number) > 0 &&
  (v.offset as number) + (v.length as number) <= (v.chunkSizeBytes as number) && isDataRef(v.data) && isU32(v.checksum) && isId(v.updateVersion)
const isReadIO: Check = (v) => isObject(v) && isKey(v.key) && isId(v.offset) && isId(v.length) && isDataRef(v.into)
const isOptions: Check = (v) => isObject(v) && typeof v.fromClient === 'boolean' && typeof v.isSyncing === 'boolean' && isId(v.commitChainVersion)

const A = {
  id: 'a non-negative safe integer',
  chunkId: '32 lowercase hex digits (a 16-byte 3FS chunk id)',
  range: '{ begin, end } chunk ids with begin <= end',
  tag: '{ clientId: 1-128 characters, requestId, channel: { id, seqnum } }',
  io: `{ key: { chainId, chainVersion, chunkId }, type: ${UPDATE_TYPES.join(' | ')}, offset, length (offset + length <= chunkSizeBytes), chunkSizeBytes > 0, data: { kind: region | inline | none, ... }, checksum (u32), updateVersion }`,
}

const REPLICA_RULES: Readonly<Record<string, readonly Rule[]>> = {
  write: [['io', isUpdateIO, A.io], ['tag', isTag, A.tag], ['retryCount', optional(isId), A.id]],
  update: [['io', isUpdateIO, A.io], ['options', isOptions, '{ fromClient, isSyncing: booleans, commitChainVersion }'], ['tag', optional(isTag), A.tag]],
  'batch-read': [['ios', (v) => Array.isArray(v) && v.length <= 4096 && v.every(isReadIO), 'an array of at most 4096 { key, offset, length, into: DataRef }']],
  'query-last-chunk': [['chainId', isId, A.id], ['chainVersion', isId, A.id], ['range', isRange, A.range], ['maxChunks', optional(isId), A.id]],
  'remove-chunks': [['chainId', isId, A.id], ['chainVersion', isId, A.id], ['range', isRange, A.range], ['maxChunks', optional(isId), A.id], ['tag', isTag, A.tag]],
  'sync-start': [['chainId', isId, A.id], ['chainVersion', isId, A.id]],
  'sync-done': [['chainId', isId, A.id], ['chainVersion', isId, A.id]],
  'query-chunk': [['chainId', isId, A.id], ['chunkId', isChunkId, A.chunkId]],
  'list-chunks': [],
  'target-view': [['view', isObject, 'a TargetView']],
  tick: [],
  'sync-retry': [],
  'op-done': [['opId', isId, A.id]],
}

const NODE_RULES: Readonly<Record<string, readonly Rule[]>> = {
  // The packed reads are checked by checkBatchRead (batch-request.ts).
  'batch-read': [['slotReplyBytesMax', optional(isId), 'a number of bytes >= 0']],
  'routing-info': [['info', isObject, 'a RoutingInfo']],
  'create-target': [['targetId', (v) => isId(v) && (v as number) > 0, 'a target id >= 1'], ['chainId', optional(isId), A.id]],
  'remove-target': [['targetId', isId, A.id], ['force', optional((v) => typeof v === 'boolean'), 'true or false']],
  'list-targets': [],
  'space-info': [],
  'replica-started': [['targetId', isId, A.id], ['address', isAddress, 'an actor address']],
  'target-report': [['targetId', isId, A.id], ['report', isObject, 'a TargetReport']],
  'tick-heartbeat': [],
  'heartbeat-done': [],
  'batch-read-done': [],
}

function validate(message: unknown, rules: Readonly<Record<string, readonly Rule[]>>, what: string): string | null {
  if (!isObject(message)) return `a ${what} message must be an object with a type`
  const list = typeof message.type === 'string' ? rules[message.type] : undefined
  if (list === undefined) return `unknown ${what} message type ${JSON.stringify(message.type)}; accepted: ${Object.keys(rules).join(', ')}`
  for (const [field, ok, accepted] of list) {
    if (!ok(message[field])) return `${message.type}.${field} is ${describe(message[field])}; accepted: ${accepted}`
  }
  return null
}

function describe(v: unknown): string {
  if (v instanceof Uint8Array) return `${v.length} bytes`
  try {
    const text = JSON.stringify(v)
    return text === undefined ? 'undefined' : text.length > 200 ? `${text.slice(0, 200)}…` : text
  } catch {
    return String(v)
  }
}

export const validateReplicaMsg = (m: unknown): string | null => validate(m, REPLICA_RULES, 'storage replica')
export const validateStorageNodeMsg = (m: unknown): string | null =>
  validate(m, NODE_RULES, 'storage node') ?? (isObject(m) && m.type === 'batch-read' ? checkBatchRead(m) : null)
