import t from 'tap'
import { chainInvariantError, nextTargets, rotateLastSrv, updateChain } from '../../../actors/mgmtd/chain-state-machine.ts'
import type { ChainInfo, LocalState, PublicState } from '../../../actors/mgmtd/protocol.ts'

/** 'A:SERVING B:OFFLINE' + locals 'A:ONLINE B:OFFLINE' → the next list as text. */
function step(chain: string, locals: string): string {
  const targets = chain.split(' ').map((p, i) => ({ targetId: i + 1, name: p.split(':')[0], publicState: p.split(':')[1] as PublicState }))
  const byName = new Map(targets.map((x) => [x.name, x.targetId]))
  const local = new Map(locals.split(' ').map((p) => [byName.get(p.split(':')[0])!, p.split(':')[1] as LocalState]))
  const next = nextTargets(targets, (id) => local.get(id))
  return next.map((x) => `${targets.find((y) => y.targetId === x.targetId)!.name}:${x.publicState}`).join(' ')
}

t.test('SERVING: alive stays, the first dead one becomes LASTSRV only when no SERVING remains', async (t) => {
  t.equal(step('A:SERVING B:SERVING C:SERVING', 'A:ONLINE B:UPTODATE C:ONLINE'), 'A:SERVING B:SERVING C:SERVING')
  t.equal(step('A:SERVING B:SERVING C:SERVING', 'A:OFFLINE B:ONLINE C:ONLINE'), 'B:SERVING C:SERVING A:OFFLINE', 'LASTSRV dropped to OFFLINE because SERVING exists')
  t.equal(step('A:SERVING B:SERVING C:SERVING', 'A:OFFLINE B:OFFLINE C:OFFLINE'), 'A:LASTSRV B:OFFLINE C:OFFLINE', 'all dead: the first becomes LASTSRV, the rest OFFLINE')
  t.equal(step('A:SERVING B:SERVING', 'A:ONLINE B:OFFLINE'), 'A:SERVING B:OFFLINE')
  t.equal(step('A:SERVING B:SERVING C:OFFLINE', 'A:OFFLINE B:ONLINE C:OFFLINE'), 'B:SERVING C:OFFLINE A:OFFLINE', 'a dropped LASTSRV goes to the end of the OFFLINE group')
})

t.test('LASTSRV: returns as SERVING; stays while nothing serves; OFFLINE once something serves', async (t) => {
  t.equal(step('A:LASTSRV B:OFFLINE C:OFFLINE', 'A:ONLINE B:ONLINE C:OFFLINE'), 'A:SERVING B:SYNCING C:OFFLINE')
  t.equal(step('A:LASTSRV B:OFFLINE C:OFFLINE', 'A:OFFLINE B:ONLINE C:UPTODATE'), 'A:LASTSRV B:WAITING C:WAITING', 'others wait, even if complete')
  t.equal(step('A:LASTSRV B:SYNCING', 'A:OFFLINE B:UPTODATE'), 'B:SERVING A:OFFLINE', 'a finished SYNCING target serves; LASTSRV then goes OFFLINE')
})

t.test('SYNCING: UPTODATE serves, ONLINE keeps syncing only behind a SERVING target, OFFLINE drops', async (t) => {
  t.equal(step('A:SERVING B:SYNCING', 'A:ONLINE B:UPTODATE'), 'A:SERVING B:SERVING')
  t.equal(step('A:SERVING B:SYNCING', 'A:ONLINE B:ONLINE'), 'A:SERVING B:SYNCING')
  t.equal(step('A:SERVING B:SYNCING', 'A:OFFLINE B:ONLINE'), 'A:LASTSRV B:WAITING')
  t.equal(step('A:SERVING B:SYNCING', 'A:ONLINE B:OFFLINE'), 'A:SERVING B:OFFLINE')
})

t.test('WAITING/OFFLINE: one local-ONLINE target is promoted to SYNCING, at most one per chain', async (t) => {
  t.equal(step('A:SERVING B:WAITING C:OFFLINE', 'A:ONLINE B:ONLINE C:ONLINE'), 'A:SERVING B:SYNCING C:WAITING')
  t.equal(step('A:SERVING B:SYNCING C:WAITING', 'A:ONLINE B:ONLINE C:ONLINE'), 'A:SERVING B:SYNCING C:WAITING')
  t.equal(step('A:SERVING B:OFFLINE', 'A:ONLINE B:UPTODATE'), 'A:SERVING B:WAITING', 'an UPTODATE target is never promoted to SYNCING')
  t.equal(step('A:SERVING B:WAITING', 'A:ONLINE B:OFFLINE'), 'A:SERVING B:OFFLINE')
  t.equal(step('A:SERVING B:OFFLINE C:OFFLINE', 'A:ONLINE B:OFFLINE C:ONLINE'), 'A:SERVING C:SYNCING B:OFFLINE', 'new order puts SYNCING before OFFLINE')
})

t.test('updateChain bumps the version only when the list changes', async (t) => {
  const chain: ChainInfo = { chainId: 7, chainVersion: 3, targets: [{ targetId: 1, publicState: 'SERVING' }, { targetId: 2, publicState: 'SERVING' }] }
  t.equal(updateChain(chain, () => 'ONLINE'), chain, 'same object when nothing changes')
  const next = updateChain(chain, (id) => (id === 1 ? 'OFFLINE' : 'ONLINE'))
  t.equal(next.chainVersion, 4)
  t.same(next.targets, [{ targetId: 2, publicState: 'SERVING' }, { targetId: 1, publicState: 'OFFLINE' }])
})

t.test('rotateLastSrv moves the LASTSRV head to the tail and promotes the next target', async (t) => {
  const chain: ChainInfo = { chainId: 1, chainVersion: 5, targets: [{ targetId: 1, publicState: 'LASTSRV' }, { targetId: 2, publicState: 'OFFLINE' }, { targetId: 3, publicState: 'WAITING' }] }
  const next = rotateLastSrv(chain)
  t.same(next, { chainId: 1, chainVersion: 6, targets: [{ targetId: 2, publicState: 'LASTSRV' }, { targetId: 3, publicState: 'OFFLINE' }, { targetId: 1, publicState: 'OFFLINE' }] })
  t.match(rotateLastSrv({ ...chain, targets: [{ targetId: 1, publicState: 'SERVING' }] }), /no LASTSRV head/)
  t.match(rotateLastSrv({ ...chain, targets: [{ targetId: 1, publicState: 'LASTSRV' }] }), /single target/)
})

t.test('property: from any legal chain, any local states keep the invariants and the version grows', async (t) => {
  const fc = (await import('fast-check')).default
  const localArb = fc.constantFrom<LocalState>('UPTODATE', 'ONLINE', 'OFFLINE')
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 5 }), fc.array(fc.array(localArb, { minLength: 5, maxLength: 5 }), { minLength: 1, maxLength: 30 }), async (n, rounds) => {
      let chain: ChainInfo = { chainId: 1, chainVersion: 1, targets: Array.from({ length: n }, (_, i) => ({ targetId: i + 1, publicState: 'SERVING' as const })) }
      for (const locals of rounds) {
        const next = updateChain(chain, (id) => locals[id - 1])
        if (next.chainVersion < chain.chainVersion) return false
        const error = chainInvariantError(next)
        if (error !== null) throw new Error(error)
        if (next.targets.length !== n) return false
        // One pass reaches the fixed point, so updating every chain each tick equals 3FS's "touched chains only".
        if (updateChain(next, (id) => locals[id - 1]) !== next) throw new Error(`not idempotent from ${JSON.stringify(next.targets)} with ${locals}`)
        chain = next
      }
      return true
    }),
    { numRuns: 2000 },
  )
  t.pass('2000 random histories keep at most one SYNCING, exactly one LASTSRV when nothing serves')
})
