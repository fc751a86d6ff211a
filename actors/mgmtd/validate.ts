/**
 * Checks every mgmtd message where it enters (the actor's `validate`): ids are non-negative safe
 * integers, enums are among their accepted values. Returns the reason a message is invalid, or null.
 */
import { LOCAL_STATES, NODE_TYPES } from './protocol.ts'

type Fields = Readonly<Record<string, unknown>>

const isId = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
const isStr = (v: unknown): boolean => typeof v === 'string'
const optional = (check: (v: unknown) => boolean) => (v: unknown): boolean => v === undefined || check(v)
const isNodeType = (v: unknown): boolean => (NODE_TYPES as readonly unknown[]).includes(v)
const isIdList = (v: unknown): boolean => Array.isArray(v) && v.every(isId)
const isObject = (v: unknown): v is Fields => typeof v === 'object' && v !== null
const isAddress = (v: unknown): boolean => isObject(v) && ['node', 'host', 'id', 'incarnation'].every((k) => isId(v[k]))
const isEndpoint = (v: unknown): boolean => typeof v === 'string' && /^[^\s:]+:\d{1,5}$/.test(v)
const isServices = (v: unknown): boolean => isObject(v) && Object.values(v).every(isAddress)
const isSync = (v: unknown): boolean => isObject(v) && ['targetId', 'doneChunks', 'totalChunks', 'copiedChunks', 'copiedBytes'].every((k) => isId(v[k]))
const isLocalTarget = (t: unknown): boolean =>
  isObject(t) && isId(t.targetId) && (LOCAL_STATES as readonly unknown[]).includes(t.localState) && optional(isId)(t.diskIndex) && optional(isId)(t.usedSizeBytes) && optional(isId)(t.chainVersion) && optional(isAddress)(t.address) && optional(isSync)(t.sync)

const ACCEPTED: Readonly<Record<string, string>> = {
  id: 'a non-negative safe integer',
  str: 'a string',
  nodeType: NODE_TYPES.join(' | '),
  ids: 'an array of non-negative safe integers',
}

type Rule = readonly [field: string, check: (v: unknown) => boolean, accepted: string]
const id = (field: string): Rule => [field, isId, ACCEPTED.id]
const optId = (field: string): Rule => [field, optional(isId), ACCEPTED.id]
const optStr = (field: string): Rule => [field, optional(isStr), ACCEPTED.str]

const RULES: Readonly<Record<string, readonly Rule[]>> = {
  'get-primary-mgmtd': [],
  heartbeat: [['info', (v) => typeof v === 'object' && v !== null, 'a HeartbeatInfo object']],
  'register-node': [id('nodeId'), ['nodeType', isNodeType, ACCEPTED.nodeType], optStr('hostname')],
  'unregister-node': [id('nodeId')],
  'enable-node': [id('nodeId')],
  'disable-node': [id('nodeId')],
  'get-routing-info': [optId('routingInfoVersion')],
  'set-chain-table': [id('tableId'), ['chains', isIdList, ACCEPTED.ids], optStr('desc')],
  'set-chains': [['chains', (v) => Array.isArray(v) && v.every((c) => typeof c === 'object' && c !== null && isId((c as Fields).chainId) && isIdList((c as Fields).targets)), 'an array of { chainId, targets: [targetId, ...] }']],
  'update-chain': [id('chainId'), id('targetId'), ['mode', (v) => v === 'add' || v === 'remove', 'add | remove']],
  'rotate-lastsrv': [id('chainId')],
  'offline-target': [id('targetId')],
  'extend-client-session': [['clientId', (v) => isStr(v) && (v as string).length > 0, 'a non-empty string'], optId('nodeId'), optStr('description')],
  'list-client-sessions': [],
  'get-client-session': [['clientId', isStr, ACCEPTED.str]],
  'init-cluster': [['cluster', (v) => typeof v === 'object' && v !== null, 'a ClusterInfo object']],
  'get-cluster': [],
  subscribe: [['subscriber', (v) => typeof v === 'object' && v !== null, 'an actor ref']],
  unsubscribe: [['subscriber', (v) => typeof v === 'object' && v !== null, 'an actor ref']],
  status: [],
  'tick-lease': [],
  'tick-check': [],
  'tick-update-chains': [],
}

const HEARTBEAT_RULES: readonly Rule[] = [
  id('nodeId'),
  ['type', isNodeType, ACCEPTED.nodeType],
  optStr('hostname'),
  ['incarnation', (v) => typeof v === 'number' && Number.isFinite(v), 'a finite number'],
  id('hbVersion'),
  ['timestampMs', (v) => typeof v === 'number' && Number.isFinite(v), 'a finite number of ms'],
  [
    'targets',
    optional((v) => Array.isArray(v) && v.every(isLocalTarget)),
    `an array of { targetId, localState: ${LOCAL_STATES.join(' | ')}, diskIndex?, usedSizeBytes?, chainVersion?, address?: { node, host, id, incarnation }, sync?: { targetId, doneChunks, totalChunks, copiedChunks, copiedBytes } } (ids and counts non-negative integers)`,
  ],
  ['endpoint', optional(isEndpoint), 'a TCP address "host:port"'],
  ['services', optional(isServices), 'an object of service name → actor address { node, host, id, incarnation }'],
]

function check(fields: Fields, rules: readonly Rule[], where: string): string | null {
  for (const [field, ok, accepted] of rules) {
    if (!ok(fields[field])) return `${where}.${field} is ${JSON.stringify(fields[field]) ?? 'undefined'}; accepted: ${accepted}`
  }
  return null
}

export function validateMgmtdMsg(message: unknown): string | null {
  if (typeof message !== 'object' || message === null) return 'an mgmtd message must be an object with a type'
  const fields = message as Fields
  const rules = typeof fields.type === 'string' ? RULES[fields.type] : undefined
  if (rules === undefined) return `unknown mgmtd message type ${JSON.stringify(fields.type)}; accepted: ${Object.keys(RULES).join(', ')}`
  const error = check(fields, rules, fields.type as string)
  if (error !== null || fields.type !== 'heartbeat') return error
  return check(fields.info as Fields, HEARTBEAT_RULES, 'heartbeat.info')
}
