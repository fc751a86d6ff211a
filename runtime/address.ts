/**
 * Where an actor lives: node (OS process) → host (thread in that process) → actor id on that host,
 * plus the node's incarnation: a number a node picks anew each time it starts. Actor ids and ask
 * correlation ids start over in a restarted node, so an address of an earlier incarnation must
 * never reach the actor that now has its id: the runtime refuses it (ERR_STALE_INCARNATION).
 * Hosts are numbered per node: 0 is the main thread, 1..n the worker hosts.
 */
export interface ActorAddress {
  readonly node: number
  readonly host: number
  readonly id: number
  /** The node's incarnation (u32); 0 only in well-known addresses (a node's registry) that mean "whichever is current". */
  readonly incarnation: number
}

/** Any incarnation: used only for addresses known before talking to the node (its registry). */
export const anyIncarnation = 0

export function formatAddress(address: ActorAddress): string {
  return `t3fs://${address.node}/${address.host}/${address.id}#${address.incarnation}`
}

export function parseAddress(text: string): ActorAddress | null {
  const match = /^t3fs:\/\/(\d+)\/(\d+)\/(\d+)#(\d+)$/.exec(text)
  if (match === null) return null
  return { node: Number(match[1]), host: Number(match[2]), id: Number(match[3]), incarnation: Number(match[4]) }
}

export function sameAddress(a: ActorAddress, b: ActorAddress): boolean {
  return a.id === b.id && a.host === b.host && a.node === b.node && a.incarnation === b.incarnation
}

/** A fresh incarnation: nonzero, and different from the last one with overwhelming odds. */
export function newIncarnation(): number {
  const words = new Uint32Array(1)
  do crypto.getRandomValues(words)
  while (words[0] === anyIncarnation)
  return words[0]
}
