/**
 * A storage target's local state as its node decides it (3FS TargetMap::updateLocalState and
 * Components::waitRoutingInfo, reference/3fs.md §3.2, §3.6), as a pure function of the public
 * state mgmtd publishes and what the target itself reports:
 *
 * - a target that (re)starts is *booting*: it reports OFFLINE until mgmtd no longer counts it as
 *   SERVING, SYNCING or WAITING, so every return goes through recovery; then ONLINE;
 * - ONLINE + public SERVING → UPTODATE (a new chain, or a returning LASTSRV);
 * - ONLINE + public SYNCING + the sync finished at this chain version → UPTODATE;
 * - UPTODATE + public WAITING, OFFLINE or LASTSRV → OFFLINE: mgmtd dropped it from the serving
 *   chain, writes went on without it. 3FS keeps it OFFLINE until the node restarts (users'
 *   most-reported pain: targets stuck OFFLINE); here it boots again by itself — it waits until
 *   it is out of the chain, comes back ONLINE and resyncs;
 * - a disk failure → OFFLINE and booting (it rejoins through a full sync).
 */
import type { LocalState, PublicState } from '../mgmtd/protocol.ts'

export interface TargetLocal {
  localState: LocalState
  booting: boolean
}

export const BOOTING: Readonly<TargetLocal> = { localState: 'OFFLINE', booting: true }

const IN_CHAIN: ReadonlySet<PublicState> = new Set(['SERVING', 'SYNCING', 'WAITING'])

/**
 * The next local state. `publicState` null: the target is in no chain (a spare) or unknown to
 * mgmtd. `syncedAtCurrentVersion`: the predecessor's syncDone arrived for the current chain version.
 */
export function nextLocal(local: TargetLocal, publicState: PublicState | null, syncedAtCurrentVersion: boolean): TargetLocal {
  if (local.booting) {
    if (publicState !== null && IN_CHAIN.has(publicState)) return local
    return { localState: 'ONLINE', booting: false }
  }
  switch (local.localState) {
    case 'OFFLINE':
      return { localState: 'OFFLINE', booting: true }
    case 'UPTODATE':
      if (publicState === null) return { localState: 'ONLINE', booting: false }
      if (publicState === 'WAITING' || publicState === 'OFFLINE' || publicState === 'LASTSRV') return { localState: 'OFFLINE', booting: true }
      return local
    case 'ONLINE':
      if (publicState === 'SERVING') return { localState: 'UPTODATE', booting: false }
      if (publicState === 'SYNCING' && syncedAtCurrentVersion) return { localState: 'UPTODATE', booting: false }
      return local
  }
}

export function failed(): TargetLocal {
  return { localState: 'OFFLINE', booting: true }
}
