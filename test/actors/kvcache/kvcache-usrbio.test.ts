/**
 * KVCache gets through USRBIO (the caller passes a UsrbioClient of the node's usrbio server)
 * against launched processes: blocks put through the FileClient read back byte for byte through
 * the shared region, a miss is null, a block larger than a slot falls back to the FileClient, a
 * small caller buffer is refused with a code, readers racing overwrites see whole versions, and
 * the TTL is judged by the mtime of the file opened (the USRBIO open reply carries it).
 */
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import type { FileClient } from '../../../actors/client/file-client.ts'
import { connectUsrbio, type UsrbioClient } from '../../../actors/client/usrbio/client.ts'
import { openKvCache } from '../../../actors/kvcache/index.ts'
import { VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'
import { usrbioActorToml } from '../client/usrbio-toml.ts'
import { startProcessFs, type ProcessFs } from '../client/process-fs.ts'
import { untilMetaReady } from './meta-ready.ts'

const MiB = 1024 * 1024
const socketPath = `/dev/shm/t3fs-kvcache-usrbio-${process.pid}.sock`
let fsCluster: ProcessFs
let fs: FileClient
let io: UsrbioClient

t.before(async () => {
  fsCluster = await startProcessFs({ extraActors: usrbioActorToml(socketPath, 4), hosts: 4 })
  fs = await fsCluster.connect({ description: 'kvcache usrbio test' })
  await untilMetaReady(fs)
  io = await connectUsrbio({ socketPath })
})
t.teardown(async () => {
  await io?.close()
  await fs?.shutdown()
  await fsCluster?.close()
  rmSync(socketPath, { force: true })
})

t.test('gets through USRBIO round trip; larger blocks fall back to the FileClient', async (t) => {
  const writer = await openKvCache(fs, { root: '/kvu', gcIntervalMs: 0 })
  const reader = await openKvCache(fs, { root: '/kvu', gcIntervalMs: 0, usrbio: io, usrbioSlots: 4, usrbioSlotBytes: 2 * MiB })
  t.teardown(async () => { await writer.close(); await reader.close() })
  const blocks = new Map([['u1', randomBytes(MiB)], ['u2', randomBytes(12_345)], ['big', randomBytes(3 * MiB)]])
  for (const [k, v] of blocks) await writer.put(k, v)
  const got = await reader.batchGet(['u1', 'u2', 'big', 'none'])
  t.ok(Buffer.from(got[0]!).equals(blocks.get('u1')!), '1 MiB block through the region')
  t.ok(Buffer.from(got[1]!).equals(blocks.get('u2')!), 'small block')
  t.ok(Buffer.from(got[2]!).equals(blocks.get('big')!), '3 MiB block (past the 2 MiB slot) through the FileClient')
  t.equal(got[3], null, 'a missing key is null')
  t.equal(reader.stats().usrbioReads, 2, 'u1 and u2 came through USRBIO, big did not')
  const into = Buffer.alloc(MiB)
  t.ok(Buffer.from((await reader.get('u1', into))!).equals(blocks.get('u1')!), 'into a caller buffer')
  await t.rejects(reader.get('u1', Buffer.alloc(100)), { code: 'ERR_KVCACHE_BUFFER_TOO_SMALL' })
  t.ok(Buffer.from((await reader.get('u2'))!).equals(blocks.get('u2')!), 'the slot of the refused get was released')
})

t.test('USRBIO readers racing overwrites see whole versions', async (t) => {
  const writer = await openKvCache(fs, { root: '/kvu-race', gcIntervalMs: 0 })
  const reader = await openKvCache(fs, { root: '/kvu-race', gcIntervalMs: 0, usrbio: io, usrbioSlots: 4 })
  t.teardown(async () => { await writer.close(); await reader.close() })
  const versions = Array.from({ length: 5 }, (_, i) => Buffer.alloc(MiB - 4096 * i, i + 1))
  const digests = new Set(versions.map((v) => createHash('sha256').update(v).digest('hex')))
  await writer.put('hot', versions[0])
  let stop = false
  let reads = 0
  const readers = Array.from({ length: 4 }, async () => {
    while (!stop) {
      const got = await reader.get('hot')
      if (got === null || !digests.has(createHash('sha256').update(got).digest('hex'))) {
        t.fail(`read ${reads} is not one whole version: ${got === null ? 'null' : `${got.length} bytes`}`)
        stop = true
      }
      reads++
    }
  })
  for (let round = 0; round < 2; round++) for (const v of versions) await writer.put('hot', v)
  stop = true
  await Promise.all(readers)
  t.equal(reader.stats().usrbioReads, reads, 'every read went through USRBIO')
  t.ok(reads > 0, `${reads} USRBIO reads raced 10 overwrites, each one whole version`)
})

t.test('a get through USRBIO judges the TTL by the mtime of the file it opens', async (t) => {
  const clock = new VirtualClock(1_000_000)
  const writer = await openKvCache(fs, { root: '/kvu-ttl', gcIntervalMs: 0, ttlMs: 10_000, clock })
  const reader = await openKvCache(fs, { root: '/kvu-ttl', gcIntervalMs: 0, ttlMs: 10_000, clock, usrbio: io, usrbioSlots: 2 })
  t.teardown(async () => { await writer.close(); await reader.close() })
  await reader.put('r', randomBytes(10)) // the reader knows r from its own put at 1,000,000
  clock.advanceTo(1_006_000)
  const newer = randomBytes(20)
  await writer.put('r', newer)
  clock.advanceTo(1_011_000) // the reader's put would have expired; the writer's block has 5 s left
  t.ok(Buffer.from((await reader.get('r'))!).equals(newer), 'the newer block, through USRBIO')
  t.equal(reader.stats().usrbioReads, 1)
  clock.advanceTo(1_016_000)
  t.equal(await reader.get('r'), null, 'expired by the file\'s own mtime')
  t.equal(reader.stats().usrbioReads, 1, 'and not read')
})
