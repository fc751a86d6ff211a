import type { ActorAddress } from './address.ts'
import type { PinResult } from './affinity.ts'
import type { SpawnOptions } from './actor.ts'
import type { WireError } from './errors.ts'

/** Names an actor definition that a host can import: `{ module: fileUrl, export: 'name' }`. */
export interface DefinitionRef {
  readonly module: string
  readonly export: string
}

export interface HostStats {
  readonly host: number
  readonly actors: number
  readonly pendingAsks: number
  readonly messagesHandled: number
  /** Messages handled per second since the previous stats call (or since the host started). */
  readonly messagesPerSecond: number
  readonly mailboxes: readonly { address: string; kind: string; depth: number; handled: number }[]
  readonly pin: PinResult
}

/**
 * The control channel the main thread drives each worker host through (comlink over the worker's
 * MessagePort): low rate, structured-clone arguments. Actor traffic never goes this way.
 */
/** comlink drops error codes, so fallible calls return a result instead of throwing. */
export type ControlResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: WireError }

export interface HostControl {
  ping(): number
  spawn(definition: DefinitionRef, args: unknown, options: SpawnOptions): Promise<ControlResult<ActorAddress>>
  stop(id: number): ControlResult<null>
  stats(): HostStats
  /** The host's metric families (runtime/metrics/registry.ts), for the node's /metrics. */
  metrics(): Promise<import('./metrics/registry.ts').MetricFamily[]>
  hostDown(host: number, reason: string): void
  /** Stops every actor, waits up to `graceMs` for their handlers to finish, then stops the mesh. */
  shutdown(graceMs: number): Promise<void>
}

export interface HostWorkerData {
  readonly node: number
  readonly host: number
  /** The node's incarnation, the same on every host of the process. */
  readonly incarnation: number
  readonly cpus: readonly number[]
  readonly mesh: import('./host-mesh.ts').MeshMemory
  readonly logLevel: import('./logger.ts').LogLevel
  readonly bufferPool: import('./buffer-pool.ts').BufferPoolMemory
  /** The directory the host's actors get as ctx.disk, on the host's own io_uring (null: no disk). */
  readonly diskRoot: string | null
}
