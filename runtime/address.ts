/**
 * Where an actor lives: node (OS process) → host (thread in that process) → actor id on that host.
 * Hosts are numbered per node: 0 is the main thread, 1..n the worker hosts.
 */
export interface ActorAddress {
  readonly node: number
  readonly host: number
  readonly id: number
}

export function formatAddress(address: ActorAddress): string {
  return `t3fs://${address.node}/${address.host}/${address.id}`
}

export function sameAddress(a: ActorAddress, b: ActorAddress): boolean {
  return a.id === b.id && a.host === b.host && a.node === b.node
}
