/**
 * FileClientOptions checked where they enter (ERR_INVALID_OPTION naming the option, the value and
 * the accepted range) and resolved to their defaults.
 */
import { invalidOption } from '../../runtime/errors.ts'
import type { UserInfo } from '../meta/index.ts'
import { CLIENT_MUTANTS, type ClientMutant, type FileClientOptions } from './file-client.ts'

export interface ResolvedClientOptions {
  readonly user: UserInfo
  readonly description: string
  readonly writeBufferBytes: number
  readonly writeBuffersInFlight: number
  readonly readAheadBytes: number
  readonly maxInFlightIos: number
  readonly ioBuffers: number
  readonly requestTimeoutMs: number
  readonly retryBudgetMs: number
  readonly sessionExtendIntervalMs: number
  readonly syncIntervalMs: number
  readonly lengthOnClose: 'exact' | 'hint'
  readonly dataMode: 'region' | 'inline'
  readonly mutants: ReadonlySet<ClientMutant>
}

export const MiB = 1024 * 1024
/** Upper bounds of the knobs (a typo of a unit should not reserve a terabyte). */
export const clientLimits = {
  writeBufferBytesMax: 64 * MiB,
  writeBuffersInFlightMax: 64,
  readAheadBytesMax: 1024 * MiB,
  maxInFlightIosMax: 4096,
  ioBuffersMax: 4096,
  timeoutMsMax: 3_600_000,
} as const

function int(options: FileClientOptions, name: keyof FileClientOptions, fallback: number, min: number, max: number): number {
  const value = options[name] ?? fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) throw invalidOption(name, value, `an integer from ${min} to ${max}`)
  return value
}

function oneOf<T extends string>(options: FileClientOptions, name: keyof FileClientOptions, fallback: T, accepted: readonly T[]): T {
  const value = options[name] ?? fallback
  if (!accepted.includes(value as T)) throw invalidOption(name, value, accepted.map((a) => JSON.stringify(a)).join(' | '))
  return value as T
}

function user(value: unknown): UserInfo {
  if (value === undefined) return { uid: 0, gid: 0 }
  const u = value as Partial<UserInfo>
  const id = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff
  if (typeof value !== 'object' || value === null || !id(u.uid) || !id(u.gid) || (u.groups !== undefined && (!Array.isArray(u.groups) || !u.groups.every(id))) || (u.token !== undefined && typeof u.token !== 'string')) {
    throw invalidOption('user', value, '{ uid, gid, groups?, token? } with ids from 0 to 4294967295')
  }
  return u as UserInfo
}

function mutants(value: unknown): ReadonlySet<ClientMutant> {
  if (value === undefined) return new Set()
  if (!Array.isArray(value) || !value.every((m) => (CLIENT_MUTANTS as readonly string[]).includes(m))) throw invalidOption('mutants', value, `an array of ${CLIENT_MUTANTS.join(', ')}`)
  return new Set(value as ClientMutant[])
}

export function resolveClientOptions(options: FileClientOptions): ResolvedClientOptions {
  if (!Array.isArray(options.mgmtd) || options.mgmtd.length === 0) throw invalidOption('mgmtd', options.mgmtd, 'a non-empty array of mgmtd actor refs')
  if (typeof options.meta !== 'function' && !Array.isArray(options.meta)) throw invalidOption('meta', options.meta, 'an array of meta actor refs, or a function returning one')
  if (options.description !== undefined && typeof options.description !== 'string') throw invalidOption('description', options.description, 'a string')
  if (options.clientId !== undefined && (typeof options.clientId !== 'string' || options.clientId.length === 0 || options.clientId.length > 256)) {
    throw invalidOption('clientId', options.clientId, 'a string of 1 to 256 characters')
  }
  return {
    user: user(options.user),
    description: options.description ?? '',
    writeBufferBytes: int(options, 'writeBufferBytes', MiB, 0, clientLimits.writeBufferBytesMax),
    writeBuffersInFlight: int(options, 'writeBuffersInFlight', 16, 1, clientLimits.writeBuffersInFlightMax),
    readAheadBytes: int(options, 'readAheadBytes', 4 * MiB, 0, clientLimits.readAheadBytesMax),
    maxInFlightIos: int(options, 'maxInFlightIos', 64, 1, clientLimits.maxInFlightIosMax),
    ioBuffers: int(options, 'ioBuffers', 32, 2, clientLimits.ioBuffersMax),
    requestTimeoutMs: int(options, 'requestTimeoutMs', 10_000, 1, clientLimits.timeoutMsMax),
    retryBudgetMs: int(options, 'retryBudgetMs', 60_000, 1, clientLimits.timeoutMsMax),
    sessionExtendIntervalMs: int(options, 'sessionExtendIntervalMs', 10_000, 10, clientLimits.timeoutMsMax),
    syncIntervalMs: int(options, 'syncIntervalMs', 5_000, 10, clientLimits.timeoutMsMax),
    lengthOnClose: oneOf(options, 'lengthOnClose', 'exact', ['exact', 'hint']),
    dataMode: oneOf(options, 'dataMode', 'region', ['region', 'inline']),
    mutants: mutants(options.mutants),
  }
}
