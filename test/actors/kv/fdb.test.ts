import t from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { openFdbKv } from '../../../actors/kv/fdb-backend.ts'
import { DEFAULT_LIMITS } from '../../../actors/kv/limits.ts'
import { openKv } from '../../../actors/kv/open-kv.ts'
import { resolveRetryPolicy } from '../../../actors/kv/retry.ts'
import { resolveSources } from '../../../actors/kv/sources.ts'
import { systemClock } from '../../../runtime/clock.ts'
import { isT3fsError } from '../../../runtime/errors.ts'
import { conformance } from './conformance.ts'
import { fakeFdbModule } from './fdb-fake.ts'

const clusterFile = process.env.T3FS_FDB_CLUSTER_FILE

const unavailableSkip = clusterFile !== undefined ? 'a cluster is configured, so the unavailable path is not exercised' : false
t.test('fdb: opening without the client library is a coded error that says why', { skip: unavailableSkip }, async (t) => {
  const err = await openKv({ backend: 'fdb' }).then(async (kv) => {
    await kv.close()
    return undefined
  }, (e: unknown) => e)
  if (err === undefined) {
    t.comment('the foundationdb package loaded here after all')
    return
  }
  t.ok(isT3fsError(err, 'ERR_KV_BACKEND_UNAVAILABLE'), (err as Error).message)
  t.match((err as Error).message, /foundationdb/)
})

if (clusterFile === undefined || !existsSync(clusterFile)) {
  const reason = clusterFile === undefined
    ? 'T3FS_FDB_CLUSTER_FILE is not set: no FoundationDB cluster is configured (and this machine has no libfdb_c, so the optional foundationdb package cannot install)'
    : `T3FS_FDB_CLUSTER_FILE=${clusterFile} does not exist`
  t.comment(`fdb conformance skipped: ${reason}`)
  t.test('fdb: conformance suite', { skip: reason }, async () => {})
} else {
  // Each factory call gets its own key prefix on the shared cluster, cleared afterwards.
  conformance(t, 'fdb', async (options) => {
    const keyPrefix = Buffer.concat([Buffer.from('t3fs-test/'), randomBytes(8), Buffer.from('/')])
    const kv = await openKv({ backend: 'fdb', clusterFile, keyPrefix, ...options })
    const close = kv.close.bind(kv)
    return Object.assign(kv, {
      close: async () => {
        await kv.transact((tx) => tx.clearRange(Buffer.alloc(0), Buffer.from([0xff])))
        await close()
      },
    })
  })
}

// The group-commit suite counts the batches of one handle (kv.stats.batches); FoundationDB batches
// commits in its commit proxies, out of a client's sight, so the suite does not apply to it.
const groupCommitSkip = 'group commit is FoundationDB\'s own (its commit proxies batch commits): the group-commit suite counts a handle\'s batches (kv.stats.batches), which the fdb backend cannot see'
t.comment(`fdb group-commit suite skipped: ${groupCommitSkip}`)
t.test('fdb: group-commit conformance suite', { skip: groupCommitSkip }, async () => {})

// The adapter itself (prefixing, versionstamp offsets, error-code mapping) against a fake of the
// foundationdb package built on the memory engine. This is not FoundationDB; it runs everywhere.
conformance(t, 'fdb adapter over a fake foundationdb module', async (options) => {
  const sources = resolveSources({ clock: options?.clock })
  return openFdbKv({
    clusterFile: undefined,
    apiVersion: 710,
    keyPrefix: Buffer.from('tenant/'),
    limits: { ...DEFAULT_LIMITS, ...options?.limits },
    sources,
    policy: resolveRetryPolicy(undefined),
    fdbModule: fakeFdbModule(options?.clock ?? systemClock),
  })
})
