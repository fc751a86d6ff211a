/** Per-peer bookkeeping of the TCP transport: state, connections, backoff. */
import type { Socket } from 'node:net'
import type { TimerHandle } from '../clock.ts'
import type { Address } from '../profile/profile.ts'
import { systemRandom, type Random } from '../random.ts'
import type { FrameDecoder } from './framing.ts'
import { Outbox } from './outbox.ts'
import type { PayloadPlacement } from './transport.ts'

/**
 * idle: known, never tried · connecting: dialing or waiting, with a deadline · up: handshake done ·
 * down: declared dead (send throws) while redials continue with backoff.
 */
export type PeerPhase = 'idle' | 'connecting' | 'up' | 'down'

export interface Connection {
  readonly socket: Socket
  readonly dialed: boolean
  decoder: FrameDecoder | null
  /** Set once the HELLO exchange identified the other end. */
  peer: Peer | null
  /** Any bytes since the last heartbeat tick (keeps the clock out of the receive path). */
  heard: boolean
  closed: boolean
  /** When the socket was opened: bounds the handshake (a dial or an unidentified inbound). */
  readonly openedMs: number
  /** Where the data frame being received puts its payloads (given back if the connection dies mid-frame). */
  placement: PayloadPlacement | null
}

export interface Waiter {
  resolve(): void
  reject(error: Error): void
}

export class Peer {
  readonly node: number
  address: Address | undefined
  phase: PeerPhase = 'idle'
  /** The established connection (phase up). */
  conn: Connection | null = null
  /** An outgoing connection whose handshake is pending. */
  dialing: Connection | null = null
  readonly outbox = new Outbox()
  phaseSinceMs = 0
  lastHeardMs = 0
  backoffMs = 0
  redialTimer: TimerHandle | null = null
  /** What the peer's last HELLO said: its incarnation (0: none yet) and the largest frame it accepts. */
  incarnation = 0
  maxFrameBytes = 0
  downReason = ''
  /** Why the peer last refused our connection (its HELLO rejection), if it did. */
  refusal = ''
  waiters: Waiter[] = []
  /** The peer's pid when its HELLO probe showed this process can read its memory (same-host.ts); 0: TCP only. */
  directPid = 0

  constructor(node: number, address: Address | undefined) {
    this.node = node
    this.address = address
  }
}

/** Next reconnect delay: doubles from min to max, with ±25 % jitter so restarts do not align. */
export function nextBackoffMs(previousMs: number, minMs: number, maxMs: number, random: Random = systemRandom): number {
  const base = previousMs <= 0 ? minMs : Math.min(maxMs, previousMs * 2)
  const jitter = 1 + (random.next() - 0.5) / 2
  return Math.max(minMs, Math.min(maxMs, Math.round(base * jitter)))
}
