/**
 * SimDisk's own behaviour: what a crash may and may not do to data and names (many seeds, each
 * failure printing `seed=N`; T3FS_SEED=N replays it), every kind of injected fault, ENOSPC,
 * determinism, and latency on a virtual clock.
 */
import t from 'tap'
import { T3fsError } from '../../../runtime/errors.ts'
import { SeededRandom } from '../../../runtime/random.ts'
import { SimDisk } from '../../../runtime/testkit/sim-disk.ts'
import { flushMicrotasks, VirtualClock } from '../../../runtime/testkit/virtual-clock.ts'
import { rejectsWith, text } from '../disk/disk-conformance.ts'
import { check, FileModel, forSeeds, makeDisk, randomBytes, readFileOrNull, sameBytes } from './sim-disk-model.ts'

const decode = (b: Uint8Array | null): string | null => (b === null ? null : new TextDecoder().decode(b))

async function writeSynced(disk: SimDisk, path: string, bytes: Uint8Array): Promise<void> {
  const f = await disk.open(path, { create: true, truncate: true })
  await f.write(bytes, 0)
  await f.sync()
  await f.close()
}

function fill(length: number, value: number): Uint8Array {
  return new Uint8Array(length).fill(value)
}

t.test('a crash keeps what was synced and loses or tears only what was not (data, many seeds)', async (t) => {
  const totals = { kept: 0, torn: 0, lost: 0, cleanChecked: 0, vanished: 0 }
  await forSeeds(t, 300, async (seed) => {
    const { disk } = makeDisk(seed)
    const random = new SeededRandom(seed * 7919 + 1)
    await disk.mkdir('d')
    await disk.syncDir('')
    const models: FileModel[] = []
    const durableNames = new Set<string>()
    for (let step = 0; step < 40; step++) {
      const roll = random.int(100)
      if (models.length === 0 || (roll < 8 && models.length < 4)) {
        const m = new FileModel(`d/f${models.length}`, disk.sectorBytes)
        await (await disk.open(m.path, { create: true, exclusive: true })).close()
        models.push(m)
        continue
      }
      const m = models[random.int(models.length)]
      const f = await disk.open(m.path, { write: true })
      if (roll < 60) {
        const position = random.int(12_000)
        const bytes = randomBytes(random, 1 + random.int(3000))
        await f.write(bytes, position)
        m.write(position, bytes)
      } else if (roll < 68) {
        const size = random.int(14_000)
        await f.truncate(size)
        m.truncate(size)
      } else if (roll < 85) {
        await f.sync({ dataOnly: random.int(2) === 0 })
        m.sync()
      } else {
        await disk.syncDir('d')
        for (const each of models) durableNames.add(each.path)
      }
      await f.close()
    }
    const report = disk.crash()
    totals.kept += report.writesKept
    totals.torn += report.writesTorn
    totals.lost += report.writesLost
    for (const m of models) {
      const actual = await readFileOrNull(disk, m.path)
      if (actual === null) {
        check(!durableNames.has(m.path), `${m.path} vanished although its directory was synced after its creation`)
        totals.vanished++
        continue
      }
      const why = m.explainIllegal(actual)
      check(why === null, `${m.path}: ${why}`)
      if (m.clean && durableNames.has(m.path)) totals.cleanChecked++
    }
  })
  t.comment(`across seeds: writes kept ${totals.kept}, torn ${totals.torn}, lost ${totals.lost}; clean files checked byte for byte ${totals.cleanChecked}; unsynced names vanished ${totals.vanished}`)
  t.ok(totals.kept > 0 && totals.torn > 0 && totals.lost > 0, 'the adversary kept, tore and lost unsynced writes')
  t.ok(totals.cleanChecked > 50, 'many synced files were checked byte for byte')
  t.ok(totals.vanished > 0, 'files whose names were never synced vanished in some seeds')
})

t.test('a crash leaves the names of some prefix of the unsynced operations (many seeds)', async (t) => {
  let lostSome = 0
  let keptAll = 0
  await forSeeds(t, 300, async (seed) => {
    const { disk } = makeDisk(seed)
    const random = new SeededRandom(seed * 104_729 + 3)
    await disk.mkdir('n')
    await disk.syncDir('')
    const state = new Map<string, string>()
    const states = [new Map(state)]
    let durableIndex = 0
    for (let step = 0, created = 0; step < 30; step++) {
      const names = [...state.keys()]
      const roll = random.int(100)
      if (names.length === 0 || roll < 35) {
        const tag = `file-${created++}`
        await writeSynced(disk, `n/${tag}`, text(tag))
        state.set(tag, tag)
      } else if (roll < 65) {
        const from = names[random.int(names.length)]
        const to = random.int(2) === 0 ? names[random.int(names.length)] : `renamed-${step}`
        if (from === to) continue
        await disk.rename(`n/${from}`, `n/${to}`)
        state.set(to, state.get(from)!)
        state.delete(from)
      } else if (roll < 85) {
        const victim = names[random.int(names.length)]
        await disk.unlink(`n/${victim}`)
        state.delete(victim)
      } else {
        await disk.syncDir('n')
        durableIndex = states.length
      }
      states.push(new Map(state))
    }
    durableIndex = Math.min(durableIndex, states.length - 1)
    disk.crash()
    const actual = new Map<string, string>()
    for (const entry of await disk.list('n')) actual.set(entry.name, decode(await readFileOrNull(disk, `n/${entry.name}`))!)
    const k = states.findIndex((s, i) => i >= durableIndex && sameMap(s, actual))
    check(k !== -1, `the names after the crash ${JSON.stringify([...actual])} are no prefix of the operations since the last syncDir`)
    if (k < states.length - 1 && !sameMap(states[k], states.at(-1)!)) lostSome++
    else keptAll++
  })
  t.comment(`seeds that lost unsynced name operations: ${lostSome}, kept them all: ${keptAll}`)
  t.ok(lostSome > 0 && keptAll > 0, 'both outcomes happen')
})

function sameMap(a: Map<string, string>, b: Map<string, string>): boolean {
  return a.size === b.size && [...a].every(([k, v]) => b.get(k) === v)
}

t.test('names: the journal survives as a prefix, in the order the operations happened', async (t) => {
  const seen = new Set<number>()
  await forSeeds(t, 200, async (seed) => {
    const { disk } = makeDisk(seed)
    for (let i = 0; i < 8; i++) await (await disk.open(`f${i}`, { create: true })).close()
    check(disk.unsyncedNameOps === 8, 'eight name operations are journaled')
    const report = disk.crash()
    const names = (await disk.list('')).map((e) => e.name)
    check(sameBytes(text(names.join()), text(Array.from({ length: names.length }, (_, i) => `f${i}`).join())), `survivors ${names} are not a prefix`)
    check(report.namespaceOpsKept === names.length && report.namespaceOpsLost === 8 - names.length, 'the report counts them')
    seen.add(names.length)
  })
  t.ok(seen.has(0) && seen.has(8) && seen.size >= 6, `prefix lengths seen: ${[...seen].sort((a, b) => a - b)}`)
})

t.test('names are strict: a fsynced file or a synced directory vanishes unless its parent was synced', async (t) => {
  const outcomes = { fileVanished: 0, fileKept: 0, dirVanished: 0 }
  await forSeeds(t, 100, async (seed) => {
    const { disk } = makeDisk(seed)
    await writeSynced(disk, 'loose', text('data synced, name not'))
    await disk.mkdir('d')
    await writeSynced(disk, 'd/inner', text('inner'))
    await disk.syncDir('d') // the entry for 'inner' is durable, the one for 'd' in the root is not
    await writeSynced(disk, 'safe', text('safe'))
    await disk.rename('loose', 'loose2')
    await disk.syncDir('') // commits everything in the root, in order: loose, d, safe, the rename
    await writeSynced(disk, 'late', text('late'))
    disk.crash()
    check(decode(await readFileOrNull(disk, 'safe')) === 'safe', 'a file whose directory was synced survives')
    check(decode(await readFileOrNull(disk, 'loose2')) === 'data synced, name not', 'the rename and its file survive a synced root')
    check(await readFileOrNull(disk, 'loose') === null, 'the old name is gone')
    check(decode(await readFileOrNull(disk, 'd/inner')) === 'inner', 'd and d/inner are durable now')
    const late = await readFileOrNull(disk, 'late')
    if (late === null) outcomes.fileVanished++
    else outcomes.fileKept++
    check(late === null || decode(late) === 'late', 'late is whole or gone')

    const second = makeDisk(seed + 10_000).disk
    await second.mkdir('x')
    await writeSynced(second, 'x/y', text('y'))
    await second.syncDir('x') // only x's own entries: x itself is not durable in the root
    second.crash()
    if ((await second.list('')).length === 0) outcomes.dirVanished++
    else check(decode(await readFileOrNull(second, 'x/y')) === 'y', 'if x survived, x/y did')
  })
  t.ok(outcomes.fileVanished > 0 && outcomes.fileKept > 0, `a fsynced file in an unsynced directory vanished ${outcomes.fileVanished}×, survived ${outcomes.fileKept}×`)
  t.ok(outcomes.dirVanished > 0, `a synced directory in an unsynced parent vanished ${outcomes.dirVanished}× (x/y with it)`)
})

t.test('syncing a directory commits the earlier operations its own depend on, and a rename atomically', async (t) => {
  await forSeeds(t, 100, async (seed) => {
    const { disk } = makeDisk(seed)
    await disk.mkdir('a')
    await disk.mkdir('b')
    await disk.syncDir('')
    await writeSynced(disk, 'a/x', text('x'))
    await writeSynced(disk, 'a/unrelated', text('u'))
    await disk.rename('a/x', 'b/x') // touches a and b: syncing b commits it, and so the create of a/x before it
    await disk.syncDir('b')
    disk.crash()
    check(decode(await readFileOrNull(disk, 'b/x')) === 'x', 'the renamed file is durable in b')
    check(await readFileOrNull(disk, 'a/x') === null, 'and gone from a (never in both)')
    const u = await readFileOrNull(disk, 'a/unrelated')
    check(u === null || decode(u) === 'u', 'an operation of a only (after the create it depends on) is whole or gone')
  })
})

t.test('torn writes happen only at sector boundaries and only in unsynced sectors', async (t) => {
  const kinds = { allOld: 0, allNew: 0, torn: 0 }
  for (const sectorBytes of [512, 1024]) {
    await forSeeds(t, 150, async (seed) => {
      const { disk } = makeDisk(seed, { sectorBytes })
      await writeSynced(disk, 'f', fill(16 * 1024, 0xaa))
      await disk.syncDir('')
      const f = await disk.open('f', { write: true })
      await f.write(fill(8 * 1024, 0xbb), 0)
      await f.sync() // the first half is durable as 0xbb
      await f.write(fill(8 * 1024, 0xcc), 8 * 1024) // the second half is not
      disk.crash()
      const after = (await readFileOrNull(disk, 'f'))!
      check(after.length === 16 * 1024, `size ${after.length}`)
      check(after.subarray(0, 8 * 1024).every((b) => b === 0xbb), 'a synced sector changed')
      let olds = 0
      for (let at = 8 * 1024; at < 16 * 1024; at += sectorBytes) {
        const sector = after.subarray(at, at + sectorBytes)
        check(sector.every((b) => b === sector[0]) && (sector[0] === 0xaa || sector[0] === 0xcc), `a sector at ${at} is torn inside`)
        if (sector[0] === 0xaa) olds++
      }
      const sectors = (8 * 1024) / sectorBytes
      if (olds === 0) kinds.allNew++
      else if (olds === sectors) kinds.allOld++
      else kinds.torn++
    })
  }
  t.ok(kinds.allOld > 0 && kinds.allNew > 0 && kinds.torn > 0, `all old ${kinds.allOld}, all new ${kinds.allNew}, torn ${kinds.torn}`)
})

t.test('truncate then rewrite: a crash never shows freed bytes under a size that includes the free', async (t) => {
  await forSeeds(t, 200, async (seed) => {
    const { disk } = makeDisk(seed)
    await writeSynced(disk, 'f', fill(16 * 1024, 0xaa))
    await disk.syncDir('')
    const f = await disk.open('f', { write: true })
    await f.truncate(0)
    await f.write(fill(100, 0xbb), 0)
    disk.crash()
    const after = (await readFileOrNull(disk, 'f'))!
    check([0, 100, 16 * 1024].includes(after.length), `size ${after.length}`)
    if (after.length === 100) check(after.every((b) => b === 0xbb) || after.every((b) => b === 0), 'the old 0xaa bytes came back under the new size')
  })
})

t.test('O_DSYNC writes and fsync survive any crash once the name is durable', async (t) => {
  await forSeeds(t, 100, async (seed) => {
    const { disk } = makeDisk(seed)
    const d = await disk.open('dsync', { create: true, dsync: true })
    const s = await disk.open('synced', { create: true })
    await disk.syncDir('')
    const expected = new Uint8Array(20_000)
    const random = new SeededRandom(seed)
    for (let i = 0; i < 10; i++) {
      const at = random.int(18_000)
      const bytes = randomBytes(random, 1 + random.int(2000))
      await d.write(bytes, at)
      await s.write(bytes, at)
      expected.set(bytes, at)
    }
    await s.sync()
    const report = disk.crash()
    check(report.writesLost === 0 && report.writesTorn === 0, 'nothing unsynced remained')
    const a = (await readFileOrNull(disk, 'dsync'))!
    const b = (await readFileOrNull(disk, 'synced'))!
    check(sameBytes(a, b) && sameBytes(a, expected.subarray(0, a.length)), 'both files are exactly what was written')
  })
})

t.test('a crash: old handles are dead, ops in flight never settle and may or may not have landed', async (t) => {
  let landed = 0
  let missed = 0
  await forSeeds(t, 60, async (seed) => {
    const clock = new VirtualClock()
    const disk = new SimDisk({ name: 'n', clock, random: new SeededRandom(seed), faults: { minLatencyMs: 1, maxLatencyMs: 5 } })
    const opening = disk.open('f', { create: true })
    while (clock.fireNext());
    const f = await opening
    let settled = false
    const writing = f.write(fill(4096, 0x11), 0)
    writing.then(() => { settled = true }, () => { settled = true })
    check(disk.opsInFlight === 1, 'one write in flight')
    const report = disk.crash()
    check(report.opsInFlight === 1, 'the report counts it')
    while (clock.fireNext());
    await flushMicrotasks()
    check(!settled, 'a write in flight at the crash settled')
    await rejectsWith(t, () => f.read(new Uint8Array(8), 0), 'EBADF', 'an old handle after the crash')
    await f.close()
    const reopening = disk.open('f')
    while (clock.fireNext());
    const exists = await reopening.then(() => true, (e: unknown) => (e instanceof T3fsError && e.code === 'ENOENT' ? false : Promise.reject(e)))
    if (report.opsInFlightApplied === 1) landed++
    else missed++
    if (!exists) check(disk.image().length === 0, 'an unsynced create may vanish, and then nothing is left')
  })
  t.ok(landed > 0 && missed > 0, `in-flight ops that reached the image: ${landed}, that did not: ${missed}`)
})

t.test('EIO: one-shot per op and path prefix, rates per prefix; a failed write lands a prefix of its sectors', async (t) => {
  const { disk } = makeDisk(1)
  await disk.mkdir('t1')
  await disk.mkdir('t2')
  await writeSynced(disk, 't1/a', fill(8192, 1))
  await writeSynced(disk, 't2/a', fill(8192, 1))
  const a1 = await disk.open('t1/a', { write: true })
  const a2 = await disk.open('t2/a', { write: true })
  const buf = new Uint8Array(4096)
  disk.failNext('read')
  await rejectsWith(t, () => a2.read(buf, 0), 'EIO', 'the armed read')
  t.equal(await a2.read(buf, 0), 4096, 'the next read succeeds')
  disk.failNext('write', { pathPrefix: 't1' })
  t.equal(await a2.write(fill(10, 2), 0), 10, 'a write outside the prefix is untouched')
  await rejectsWith(t, () => a1.write(fill(8192, 9), 0), 'EIO', 'the armed write under t1')
  const after = (await readFileOrNull(disk, 't1/a'))!
  const landedBytes = after.findIndex((b) => b !== 9)
  t.ok(landedBytes === -1 || (landedBytes % disk.sectorBytes === 0 && after.subarray(landedBytes).every((b) => b === 1)), `the failed write landed a prefix of whole sectors (${landedBytes === -1 ? 'all' : landedBytes} bytes)`)
  disk.failNext('sync', { pathPrefix: 't2', times: 2 })
  await rejectsWith(t, () => a2.sync(), 'EIO', 'the first armed sync')
  await rejectsWith(t, () => disk.syncDir('t2'), 'EIO', 'the second, on the directory')
  await a2.sync()
  t.equal(disk.counters.faults.readErrors, 1)
  t.equal(disk.counters.faults.writeErrors, 1)
  t.equal(disk.counters.faults.syncErrors, 2)

  disk.setFaults({ paths: [{ prefix: 't1', readErrorRate: 1 }], readErrorRate: 0.5 })
  await rejectsWith(t, () => a1.read(buf, 0), 'EIO', 'every read under t1 fails at rate 1')
  let failures = 0
  for (let i = 0; i < 400; i++) await a2.read(buf, 0).catch(() => { failures++ })
  t.ok(failures > 140 && failures < 260, `about half of 400 reads fail at rate 0.5 (${failures})`)
  disk.setFaults({})
  t.equal(await a1.read(buf, 0), 4096, 'a cleared plan fails nothing')
  await rejectsWith(t, async () => disk.setFaults({ readErrorRate: 2 }), 'ERR_INVALID_OPTION', 'a rate above 1')
  t.throws(() => disk.setFaults({ paths: [{ prefix: '../x' }] }), { code: 'ERR_INVALID_PATH' })
  t.throws(() => disk.failNext('sync', { code: 'ENOSPC' }), { code: 'ERR_INVALID_OPTION' })
})

t.test('a failed fsync loses its data for good, as Linux does (fsyncgate)', async (t) => {
  await forSeeds(t, 50, async (seed) => {
    const { disk } = makeDisk(seed)
    await writeSynced(disk, 'f', fill(8192, 0xaa))
    await disk.syncDir('')
    const f = await disk.open('f', { write: true })
    await f.write(fill(8192, 0xbb), 0)
    disk.failNext('sync')
    await f.sync().then(() => check(false, 'the sync should fail'), () => undefined)
    const now = (await readFileOrNull(disk, 'f'))!
    check(now.every((b) => b === 0xbb), 'the page cache still shows the new data')
    await f.sync() // succeeds without writing the dropped pages
    disk.crash()
    const after = (await readFileOrNull(disk, 'f'))!
    check(after.every((b) => b === 0xaa), 'after the crash the data whose sync failed is gone')
  })
})

t.test('ENOSPC leaves nothing half-written; freed space is reusable', async (t) => {
  const { disk } = makeDisk(1, { capacityBytes: 16 * 4096 })
  const filler = await disk.open('filler', { create: true })
  await filler.write(fill(13 * 4096, 1), 0)
  const f = await disk.open('f', { create: true })
  await f.write(fill(2 * 4096, 2), 0)
  const before = { stat: await f.stat(), cap: await disk.capacity(), bytes: (await readFileOrNull(disk, 'f'))! }
  t.equal(before.cap.freeBytes, 4096, 'one block left')
  await rejectsWith(t, () => f.write(fill(4 * 4096, 3), 4096), 'ENOSPC', 'a write needing 3 new blocks')
  await rejectsWith(t, () => f.allocate(0, 8 * 4096), 'ENOSPC', 'a fallocate needing 6')
  t.same(await f.stat(), before.stat, 'size, allocation and mtime unchanged')
  t.same(await disk.capacity(), before.cap, 'free space unchanged')
  t.ok(sameBytes((await readFileOrNull(disk, 'f'))!, before.bytes), 'not a byte written, not even in the block it already had')
  t.equal(await f.write(fill(4096, 4), 2 * 4096), 4096, 'a write that fits still works')
  await rejectsWith(t, () => f.write(fill(1, 5), 3 * 4096), 'ENOSPC', 'the disk is full')
  await filler.punchHole(0, 4 * 4096)
  t.equal((await disk.capacity()).freeBytes, 4 * 4096, 'punching frees')
  await disk.unlink('filler')
  t.equal((await disk.capacity()).freeBytes, 4 * 4096, 'an unlinked file keeps its space while open')
  await filler.close()
  t.equal((await disk.capacity()).freeBytes, 13 * 4096, 'and frees it on close')
  disk.failNext('write', { code: 'ENOSPC' })
  await rejectsWith(t, () => f.write(fill(10, 6), 0), 'ENOSPC', 'an injected ENOSPC')
  t.equal((await readFileOrNull(disk, 'f'))![0], 2, 'wrote nothing')
  t.equal(disk.counters.faults.noSpace, 4)
})

t.test('bit flips: on read (the stored bytes stay intact) and at rest (decay survives a crash)', async (t) => {
  const { disk } = makeDisk(5, { faults: {} })
  const data = fill(4096, 0x5a)
  await writeSynced(disk, 'f', data)
  await disk.syncDir('')
  const f = await disk.open('f')
  const flipped = new Uint8Array(4096)
  disk.flipNextRead()
  await f.read(flipped, 0)
  t.equal(bitsDiffering(flipped, data), 1, 'one bit flipped in what the read returned')
  const clean = new Uint8Array(4096)
  await f.read(clean, 0)
  t.ok(sameBytes(clean, data), 'the next read is clean: the media is intact')
  disk.setFaults({ readBitFlipRate: 1 })
  await f.read(clean, 0)
  t.equal(bitsDiffering(clean, data), 1, 'readBitFlipRate 1 flips a bit in every read')
  disk.setFaults({})
  const where = disk.corruptSector('f', 1000)
  t.ok(where !== null && where.sector === 1, `decay hit sector ${where?.sector}`)
  await f.read(clean, 0)
  t.equal(bitsDiffering(clean, data), 1, 'reads see the decayed sector')
  t.ok(clean.subarray(0, 512).every((b) => b === 0x5a) && clean.subarray(1024).every((b) => b === 0x5a), 'only that sector')
  disk.crash()
  t.equal(bitsDiffering((await readFileOrNull(disk, 'f'))!, data), 1, 'decay survives the crash')
  t.equal(disk.corruptSector('f', 1 << 20), null, 'no durable data there: nothing decays')
  t.equal(disk.counters.faults.readBitFlips, 2)
  t.equal(disk.counters.faults.sectorsCorrupted, 1)

  const rot = makeDisk(6, { faults: { bitRotAtCrashRate: 1 } }).disk
  await writeSynced(rot, 'g', data)
  await writeSynced(rot, 'h', data)
  await rot.syncDir('')
  t.equal(rot.crash().sectorsRotted, 2, 'bitRotAtCrashRate 1 decays one sector of every file with durable data')
  t.equal(bitsDiffering((await readFileOrNull(rot, 'g'))!, data) + bitsDiffering((await readFileOrNull(rot, 'h'))!, data), 2)
})

function bitsDiffering(a: Uint8Array, b: Uint8Array): number {
  let bits = 0
  for (let i = 0; i < a.length; i++) for (let x = a[i] ^ b[i]; x !== 0; x &= x - 1) bits++
  return bits
}

t.test('latency: completions come out of order on a VirtualClock and effects apply at completion', async (t) => {
  const clock = new VirtualClock()
  const disk = new SimDisk({ name: 'n', clock, random: new SeededRandom(3), faults: { minLatencyMs: 1, maxLatencyMs: 50 } })
  const opening = disk.open('f', { create: true })
  t.equal(disk.opsInFlight, 1)
  t.equal(disk.image().length, 0, 'the create has not happened before it completes')
  clock.fireNext()
  const f = await opening
  const order: number[] = []
  const writes = Array.from({ length: 20 }, (_, i) => f.write(fill(512, i + 1), i * 512).then(() => { order.push(i) }))
  t.equal(disk.image()[0].sizeBytes, 0, 'nothing landed yet')
  const landed: number[] = []
  while (clock.fireNext()) landed.push(disk.image()[0].sizeBytes)
  await Promise.all(writes)
  t.equal(order.length, 20)
  t.notSame(order, [...order].sort((a, b) => a - b), `completion order ${order.join(' ')} differs from the issue order`)
  t.ok(landed.every((size, i) => i === 0 || size >= landed[i - 1]), 'the size grows as each write completes')
  t.ok(clock.now() > 0 && clock.now() <= 51 + 50, `virtual time moved (${clock.now().toFixed(1)} ms)`)
  const bytes = (await readPending(disk, clock, 'f'))!
  t.ok(Array.from({ length: 20 }, (_, i) => bytes[i * 512] === i + 1).every(Boolean), 'every write landed at its place')
})

async function readPending(disk: SimDisk, clock: VirtualClock, path: string): Promise<Uint8Array> {
  const opening = disk.open(path)
  while (clock.fireNext());
  const f = await opening
  const stat = f.stat()
  while (clock.fireNext());
  const out = new Uint8Array((await stat).sizeBytes)
  const reading = f.read(out, 0)
  while (clock.fireNext());
  await reading
  return out
}

t.test('without latency every operation settles without the clock moving', async (t) => {
  const clock = new VirtualClock()
  const disk = new SimDisk({ name: 'n', clock, random: new SeededRandom(1) })
  const f = await disk.open('f', { create: true })
  await f.write(text('now'), 0)
  await f.sync()
  await disk.syncDir('')
  t.equal(clock.pendingTimers, 0, 'no timer was set')
  t.equal(clock.now(), 0, 'no time passed')
  t.equal(disk.opsInFlight, 0)
})

/** A seeded workload with latency and faults, then a crash: everything it produced, as one string. */
async function workload(seed: number): Promise<string> {
  const clock = new VirtualClock()
  const disk = new SimDisk({ name: 'n', clock, random: new SeededRandom(seed), faults: { minLatencyMs: 0, maxLatencyMs: 4, writeErrorRate: 0.05, readBitFlipRate: 0.05 } })
  const random = new SeededRandom(seed + 1)
  const completions: string[] = []
  const pending: Promise<unknown>[] = []
  const track = (what: string, p: Promise<unknown>): void => {
    pending.push(p.then((v) => completions.push(`${what}=${String(v)}`), (e: T3fsError) => completions.push(`${what}!${e.code}`)))
  }
  const opening = disk.open('f', { create: true })
  while (clock.fireNext());
  const f = await opening
  for (let i = 0; i < 30; i++) {
    const at = random.int(20_000)
    if (i % 7 === 6) track(`sync${i}`, f.sync())
    else if (i % 5 === 4) track(`read${i}`, f.read(new Uint8Array(100), at))
    else track(`write${i}`, f.write(randomBytes(random, 1 + random.int(3000)), at))
    if (random.int(3) === 0) clock.fireNext()
  }
  const report = disk.crash()
  await flushMicrotasks()
  return JSON.stringify({ completions, report, counters: disk.counters, volatile: digest(disk.image('volatile')), durable: digest(disk.image('durable')) })
}

function digest(image: ReturnType<SimDisk['image']>): string[] {
  return image.map((e) => `${e.path}:${e.kind}:${e.sizeBytes}:${e.allocatedBytes}:${Buffer.from(e.bytes).toString('base64')}`)
}

t.test('deterministic: the same seed gives the same images, counters and completions; other seeds differ', async (t) => {
  const first = await workload(42)
  t.equal(await workload(42), first, 'seed 42 twice: byte for byte the same')
  const others = new Set<string>()
  for (let seed = 1; seed <= 5; seed++) others.add(await workload(seed))
  t.equal(others.size, 5, 'five seeds, five different outcomes')
})

t.test('the root, directory handles and options', async (t) => {
  const { disk } = makeDisk(1)
  await rejectsWith(t, () => disk.unlink(''), 'EISDIR', 'unlink of the root')
  await rejectsWith(t, () => disk.rmdir(''), 'EBUSY', 'rmdir of the root')
  await rejectsWith(t, () => disk.rename('', 'x'), 'EBUSY', 'rename of the root')
  await rejectsWith(t, () => disk.mkdir(''), 'EEXIST', 'mkdir of the root')
  await disk.mkdir('', { recursive: true })
  await disk.mkdir('d')
  await (await disk.open('d/f', { create: true })).close()
  const dir = await disk.open('d')
  await rejectsWith(t, () => dir.read(new Uint8Array(1), 0), 'EISDIR', 'read of a directory')
  t.equal(disk.unsyncedNameOps, 2)
  await disk.syncDir('')
  await dir.sync()
  t.equal(disk.unsyncedNameOps, 0, 'fsync of an open directory commits its names')
  await dir.close()
  t.throws(() => new SimDisk({ name: 'x', clock: new VirtualClock(), random: new SeededRandom(1), alignment: 3000 }), { code: 'ERR_INVALID_OPTION', message: /alignment/ })
  t.throws(() => new SimDisk({ name: 'x', clock: new VirtualClock(), random: new SeededRandom(1), capacityBytes: -1 }), { code: 'ERR_INVALID_OPTION', message: /capacityBytes/ })
  t.throws(() => new SimDisk({ name: 'x', clock: new VirtualClock(), random: new SeededRandom(1), sectorBytes: 8192 }), { code: 'ERR_INVALID_OPTION', message: /sectorBytes/ })
  t.throws(() => new SimDisk({ name: 'x', clock: new VirtualClock(), random: new SeededRandom(1), faults: { maxLatencyMs: -1 } }), { code: 'ERR_INVALID_OPTION', message: /maxLatencyMs/ })
  const f = await disk.open('d/f', { write: true })
  await rejectsWith(t, () => f.write(text('x'), 2 ** 44), 'EFBIG', 'a write past the largest file')
  await rejectsWith(t, () => f.allocate(0, 0), 'ERR_INVALID_OPTION', 'fallocate of 0 bytes')
  await rejectsWith(t, () => disk.open('d/f', { write: 'yes' as unknown as boolean }), 'ERR_INVALID_OPTION', 'a non-boolean flag')
  const direct = await disk.open('d/f', { write: true, direct: true })
  const unaligned = new Uint8Array(new ArrayBuffer(8192), 512, 4096)
  await rejectsWith(t, () => direct.write(unaligned, 0), 'EINVAL', 'a Uint8Array whose byteOffset is not aligned')
  t.equal(await direct.write(new Uint8Array(new ArrayBuffer(8192), 4096, 4096), 0), 4096, 'an aligned byteOffset passes')
})

type StoreVariant = 'correct' | 'mutant: no fsync before rename' | 'mutant: no syncDir after rename'

/** The classic atomic replace (write a temp file, fsync, rename over, sync the directory), or a broken one. */
async function replaceAtomically(disk: SimDisk, variant: StoreVariant, contents: Uint8Array): Promise<void> {
  const tmp = await disk.open('store.tmp', { create: true, truncate: true })
  await tmp.write(contents, 0)
  if (variant !== 'mutant: no fsync before rename') await tmp.sync()
  await tmp.close()
  await disk.rename('store.tmp', 'store')
  if (variant !== 'mutant: no syncDir after rename') await disk.syncDir('')
}

/** One seeded run: an acknowledged replace must be what the store holds after a crash. */
async function storeScenario(seed: number, variant: StoreVariant): Promise<void> {
  const { disk } = makeDisk(seed)
  await replaceAtomically(disk, 'correct', fill(8192, 1))
  await replaceAtomically(disk, variant, fill(8192, 2))
  disk.crash()
  const stored = await readFileOrNull(disk, 'store')
  check(stored !== null && sameBytes(stored, fill(8192, 2)), `the acknowledged contents are not what the store holds (${stored === null ? 'missing' : `${stored.length} bytes, first ${stored[0]}`})`)
}

t.test('a store built on SimDisk: the correct atomic replace survives every seed, each named mutant is caught', async (t) => {
  await forSeeds(t, 300, (seed) => storeScenario(seed, 'correct'))
  for (const mutant of ['mutant: no fsync before rename', 'mutant: no syncDir after rename'] as const) {
    let caught: number | null = null
    for (let seed = 1; seed <= 100 && caught === null; seed++) {
      await storeScenario(seed, mutant).catch((error: Error) => {
        caught = seed
        t.comment(`${mutant}: caught at seed=${seed}: ${error.message}`)
      })
    }
    t.ok(caught !== null, `${mutant} is caught within 100 seeds`)
  }
})
