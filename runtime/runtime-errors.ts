import { T3fsError } from './errors.ts'
import { formatAddress, type ActorAddress } from './address.ts'

/** The operating errors the actor runtime itself raises; each code is stable and tested. */
export const RuntimeErrorCode = {
  unknownAddress: 'ERR_UNKNOWN_ADDRESS',
  invalidMessage: 'ERR_INVALID_MESSAGE',
  mailboxFull: 'ERR_MAILBOX_FULL',
  askTimeout: 'ERR_ASK_TIMEOUT',
  hostDied: 'ERR_HOST_DIED',
  actorStopped: 'ERR_ACTOR_STOPPED',
  actorFailed: 'ERR_ACTOR_FAILED',
  systemStopped: 'ERR_SYSTEM_STOPPED',
  staleIncarnation: 'ERR_STALE_INCARNATION',
  actorFenced: 'ERR_ACTOR_FENCED',
} as const

export function unknownAddress(address: ActorAddress): T3fsError {
  return new T3fsError(RuntimeErrorCode.unknownAddress, `no actor at ${formatAddress(address)}`, {
    address: formatAddress(address),
  })
}

export function invalidMessage(kind: string, message: unknown, reason: string): T3fsError {
  const type = typeof message === 'object' && message !== null ? (message as { type?: unknown }).type : undefined
  return new T3fsError(
    RuntimeErrorCode.invalidMessage,
    `actor ${kind} rejected a message${type === undefined ? '' : ` of type ${String(type)}`}: ${reason}`,
    { kind, type: type === undefined ? null : String(type), reason },
  )
}

export function mailboxFull(address: ActorAddress, kind: string, capacity: number): T3fsError {
  return new T3fsError(
    RuntimeErrorCode.mailboxFull,
    `mailbox of ${kind} at ${formatAddress(address)} is full (${capacity} messages); retry later or use send() to wait`,
    { address: formatAddress(address), kind, capacity },
  )
}

export function askTimeout(address: ActorAddress, timeoutMs: number, type: string): T3fsError {
  return new T3fsError(
    RuntimeErrorCode.askTimeout,
    `ask ${type} to ${formatAddress(address)} got no reply within ${timeoutMs} ms`,
    { address: formatAddress(address), timeoutMs, type },
  )
}

export function hostDied(node: number, host: number, reason: string): T3fsError {
  return new T3fsError(RuntimeErrorCode.hostDied, `host ${host} of node ${node} died: ${reason}`, { node, host, reason })
}

/** A whole node is unreachable (its connection is down): same code as a dead host. */
export function nodeDown(node: number, reason: string): T3fsError {
  return new T3fsError(RuntimeErrorCode.hostDied, `node ${node} is down: ${reason}`, { node, reason })
}

export function actorStopped(address: ActorAddress): T3fsError {
  return new T3fsError(RuntimeErrorCode.actorStopped, `actor at ${formatAddress(address)} stopped`, {
    address: formatAddress(address),
  })
}

export function actorFailed(address: ActorAddress, kind: string, cause: unknown): T3fsError {
  const text = cause instanceof Error ? cause.message : String(cause)
  return new T3fsError(RuntimeErrorCode.actorFailed, `actor ${kind} at ${formatAddress(address)} failed: ${text}`, {
    address: formatAddress(address),
    kind,
    cause: text,
  })
}

export function systemStopped(): T3fsError {
  return new T3fsError(RuntimeErrorCode.systemStopped, 'the actor system is shut down')
}

/** A message for an actor of an earlier (or unknown) incarnation of its node: it restarted since. */
export function staleIncarnation(address: ActorAddress, current: number): T3fsError {
  return new T3fsError(
    RuntimeErrorCode.staleIncarnation,
    `no actor at ${formatAddress(address)}: node ${address.node} restarted (its incarnation is now ${current}); look the actor up again`,
    { address: formatAddress(address), incarnation: address.incarnation, current },
  )
}

/** A handler of a crashed or restarted actor touched the world after the fact. */
export function actorFenced(address: ActorAddress, kind: string, operation: string): T3fsError {
  return new T3fsError(
    RuntimeErrorCode.actorFenced,
    `actor ${kind} at ${formatAddress(address)} crashed or restarted; its earlier handler may no longer ${operation}`,
    { address: formatAddress(address), kind, operation },
  )
}
