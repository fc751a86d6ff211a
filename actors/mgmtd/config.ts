/**
 * mgmtd's timing knobs, defaults from 3FS's MgmtdConfig (reference/3fs.md §1.2, §6.1, §10).
 * Profile params may give them as numbers of ms or duration strings ("10s", "1min").
 */
import { invalidOption } from '../../runtime/errors.ts'
import { DURATION_ACCEPTED, parseDurationMs } from '../../runtime/profile/units.ts'

export interface MgmtdConfig {
  leaseLengthMs: number
  extendLeaseIntervalMs: number
  heartbeatFailIntervalMs: number
  heartbeatTimestampValidWindowMs: number
  checkStatusIntervalMs: number
  updateChainsIntervalMs: number
  /** A chain created (or loaded at takeover) within this long is not updated (3FS's new-born freeze). */
  newChainBootstrapIntervalMs: number
  clientSessionTimeoutMs: number
  allowHeartbeatFromUnregistered: boolean
  /**
   * Automatic re-replication: a chain target publicly OFFLINE this long is replaced by a spare
   * target (one in no chain, on a node without another target of the chain). 0 turns it off.
   */
  autoReplaceOfflineAfterMs: number
}

export const DEFAULT_MGMTD_CONFIG: Readonly<MgmtdConfig> = {
  leaseLengthMs: 60_000,
  extendLeaseIntervalMs: 10_000,
  heartbeatFailIntervalMs: 60_000,
  heartbeatTimestampValidWindowMs: 30_000,
  checkStatusIntervalMs: 10_000,
  updateChainsIntervalMs: 1_000,
  newChainBootstrapIntervalMs: 120_000,
  clientSessionTimeoutMs: 20 * 60_000,
  allowHeartbeatFromUnregistered: true,
  autoReplaceOfflineAfterMs: 10 * 60_000,
}

const DURATIONS = [
  'leaseLengthMs',
  'extendLeaseIntervalMs',
  'heartbeatFailIntervalMs',
  'heartbeatTimestampValidWindowMs',
  'checkStatusIntervalMs',
  'updateChainsIntervalMs',
  'newChainBootstrapIntervalMs',
  'clientSessionTimeoutMs',
  'autoReplaceOfflineAfterMs',
] as const

/** 3FS's snake_case names (mgmtd_main.toml [server.service]) for the same knobs, as profiles write them. */
export const SNAKE_CASE_NAMES: Readonly<Record<string, keyof MgmtdConfig>> = {
  lease_length: 'leaseLengthMs',
  extend_lease_interval: 'extendLeaseIntervalMs',
  heartbeat_fail_interval: 'heartbeatFailIntervalMs',
  heartbeat_timestamp_valid_window: 'heartbeatTimestampValidWindowMs',
  check_status_interval: 'checkStatusIntervalMs',
  update_chains_interval: 'updateChainsIntervalMs',
  new_chain_bootstrap_interval: 'newChainBootstrapIntervalMs',
  client_session_timeout: 'clientSessionTimeoutMs',
  allow_heartbeat_from_unregistered: 'allowHeartbeatFromUnregistered',
  auto_replace_offline_after: 'autoReplaceOfflineAfterMs',
}

/** Fills defaults and checks every knob, naming the knob and what it accepts. */
export function resolveMgmtdConfig(input: Readonly<Record<string, unknown>> = {}): MgmtdConfig {
  const config: MgmtdConfig = { ...DEFAULT_MGMTD_CONFIG }
  for (const [given, value] of Object.entries(input)) {
    const key: string = SNAKE_CASE_NAMES[given] ?? given
    if ((DURATIONS as readonly string[]).includes(key)) {
      const ms = typeof value === 'number' ? value : typeof value === 'string' ? parseDurationMs(value) : undefined
      if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms > 86_400_000) throw invalidOption(`mgmtd.${given}`, value, `a number of ms in [0, 86400000] or ${DURATION_ACCEPTED}`)
      config[key as (typeof DURATIONS)[number]] = ms
    } else if (key === 'allowHeartbeatFromUnregistered') {
      if (typeof value !== 'boolean') throw invalidOption(`mgmtd.${given}`, value, 'true or false')
      config.allowHeartbeatFromUnregistered = value
    } else {
      throw invalidOption(`mgmtd.${given}`, value, `a known mgmtd option: ${[...DURATIONS, 'allowHeartbeatFromUnregistered'].join(', ')} (or their 3FS names ${Object.keys(SNAKE_CASE_NAMES).join(', ')})`)
    }
  }
  if (!(config.extendLeaseIntervalMs > 0 && config.extendLeaseIntervalMs * 2 <= config.leaseLengthMs)) {
    throw invalidOption('mgmtd.extendLeaseIntervalMs (extend_lease_interval)', config.extendLeaseIntervalMs, `a positive interval at most half of leaseLengthMs (lease_length, here ${config.leaseLengthMs} ms)`)
  }
  for (const key of ['checkStatusIntervalMs', 'updateChainsIntervalMs'] as const) {
    if (!(config[key] > 0)) throw invalidOption(`mgmtd.${key}`, config[key], 'a positive interval')
  }
  return config
}
