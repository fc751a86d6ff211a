/**
 * The chain-update state machine of 3FS's mgmtd (reference/3fs.md §3.5, `generateNewChain`):
 * pure functions from a chain and its targets' local states to the chain's next target list.
 * No clock, no I/O: the actor calls this, the tests call it directly.
 */
import type { ChainInfo, ChainTarget, LocalState, PublicState } from './protocol.ts'

/** Rank of each public state in the new order: SERVING ++ LASTSRV ++ SYNCING ++ WAITING ++ OFFLINE. */
const ORDER: Readonly<Record<PublicState, number>> = { SERVING: 0, LASTSRV: 1, SYNCING: 2, WAITING: 3, OFFLINE: 4 }

const alive = (local: LocalState): boolean => local === 'ONLINE' || local === 'UPTODATE'

/**
 * The next target list of a chain, given each target's local state (a target missing from
 * `localOf` counts as OFFLINE). Follows §3.5 rule by rule, as the code has it: a WAITING/OFFLINE
 * target is promoted to SYNCING only when it is local ONLINE, a SERVING target exists and no
 * target is SYNCING yet (so a chain never has two); the LASTSRVs dropped because something serves
 * go to the end of the OFFLINE group.
 */
export function nextTargets(targets: readonly ChainTarget[], localOf: (targetId: number) => LocalState | undefined): ChainTarget[] {
  // Group the old targets by public state, keeping the old order inside each group.
  const groups = (['SERVING', 'LASTSRV', 'SYNCING', 'WAITING', 'OFFLINE'] as const).map((state) => targets.filter((t) => t.publicState === state))
  const out: { targetId: number; state: PublicState; seq: number }[] = []
  let serving = 0
  let lastsrv = 0
  let syncing = 0
  const put = (targetId: number, state: PublicState): void => {
    if (state === 'SERVING') serving++
    if (state === 'LASTSRV') lastsrv++
    if (state === 'SYNCING') syncing++
    out.push({ targetId, state, seq: out.length })
  }
  const [oldServing, oldLastsrv, oldSyncing, oldWaiting, oldOffline] = groups
  for (const t of oldServing) {
    const local = localOf(t.targetId) ?? 'OFFLINE'
    if (alive(local)) put(t.targetId, 'SERVING')
    else put(t.targetId, lastsrv === 0 ? 'LASTSRV' : 'OFFLINE')
  }
  for (const t of oldLastsrv) {
    const local = localOf(t.targetId) ?? 'OFFLINE'
    if (serving > 0) put(t.targetId, 'OFFLINE')
    else if (alive(local)) put(t.targetId, 'SERVING')
    else put(t.targetId, 'LASTSRV') // stays; a chain never holds two (the property test shows it)
  }
  for (const t of oldSyncing) {
    const local = localOf(t.targetId) ?? 'OFFLINE'
    if (local === 'UPTODATE') put(t.targetId, 'SERVING')
    else if (local === 'ONLINE') put(t.targetId, serving > 0 ? 'SYNCING' : 'WAITING')
    else put(t.targetId, 'OFFLINE')
  }
  for (const t of [...oldWaiting, ...oldOffline]) {
    const local = localOf(t.targetId) ?? 'OFFLINE'
    if (local === 'ONLINE' && serving > 0 && syncing === 0) put(t.targetId, 'SYNCING')
    else if (alive(local)) put(t.targetId, 'WAITING')
    else put(t.targetId, 'OFFLINE')
  }
  // If any SERVING exists, every LASTSRV becomes OFFLINE.
  if (serving > 0) {
    for (const o of out) {
      if (o.state !== 'LASTSRV') continue
      o.state = 'OFFLINE'
      o.seq += out.length // appended after the OFFLINE targets already placed
    }
  }
  out.sort((a, b) => ORDER[a.state] - ORDER[b.state] || a.seq - b.seq)
  return out.map((o) => ({ targetId: o.targetId, publicState: o.state }))
}

export function sameTargets(a: readonly ChainTarget[], b: readonly ChainTarget[]): boolean {
  return a.length === b.length && a.every((t, i) => t.targetId === b[i].targetId && t.publicState === b[i].publicState)
}

/** One pass of the updater over a chain: the same chain if nothing changed, else the next version. */
export function updateChain(chain: ChainInfo, localOf: (targetId: number) => LocalState | undefined): ChainInfo {
  const targets = nextTargets(chain.targets, localOf)
  if (sameTargets(targets, chain.targets)) return chain
  return { ...chain, chainVersion: chain.chainVersion + 1, targets }
}

/**
 * `rotate-lastsrv`: the head is LASTSRV and will never return; move it to the tail as OFFLINE and
 * make the next target the LASTSRV. Returns an error text when the chain is not in that shape.
 */
export function rotateLastSrv(chain: ChainInfo): ChainInfo | string {
  const [head, ...rest] = chain.targets
  if (head === undefined || head.publicState !== 'LASTSRV') {
    return `chain ${chain.chainId} has no LASTSRV head (head is ${head === undefined ? 'missing' : `${head.targetId} ${head.publicState}`}); rotate-lastsrv applies only to a chain whose head is LASTSRV`
  }
  if (rest.length === 0) return `chain ${chain.chainId} has a single target; there is no next target to promote to LASTSRV`
  const [next, ...others] = rest
  return {
    ...chain,
    chainVersion: chain.chainVersion + 1,
    targets: [{ targetId: next.targetId, publicState: 'LASTSRV' }, ...others.map((t) => ({ targetId: t.targetId, publicState: 'OFFLINE' as const })), { targetId: head.targetId, publicState: 'OFFLINE' }],
  }
}

/** The invariants every chain keeps; returns what is broken, or null. */
export function chainInvariantError(chain: ChainInfo): string | null {
  const count = (s: PublicState): number => chain.targets.filter((t) => t.publicState === s).length
  if (count('SYNCING') > 1) return `chain ${chain.chainId} v${chain.chainVersion} has ${count('SYNCING')} SYNCING targets (at most 1)`
  if (chain.targets.length > 0 && count('SERVING') === 0 && count('LASTSRV') !== 1) {
    return `chain ${chain.chainId} v${chain.chainVersion} has no SERVING target and ${count('LASTSRV')} LASTSRV targets (exactly 1 expected)`
  }
  if (count('SERVING') > 0 && count('LASTSRV') > 0) return `chain ${chain.chainId} v${chain.chainVersion} has both SERVING and LASTSRV targets`
  for (let i = 1; i < chain.targets.length; i++) {
    if (ORDER[chain.targets[i - 1].publicState] > ORDER[chain.targets[i].publicState]) return `chain ${chain.chainId} v${chain.chainVersion} targets are out of state order`
  }
  return null
}
