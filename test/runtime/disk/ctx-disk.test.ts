import t from 'tap'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nativeAvailable } from '../../../native/index.ts'
import { NodeRuntime } from '../../../runtime/node-runtime.ts'
import type { DiskUserMsg } from './fixtures/disk-actors.ts'

const skip = nativeAvailable() ? false : 'ctx.disk on worker hosts needs the native addon (npm run build:native)'
const fixture = { module: new URL('./fixtures/disk-actors.ts', import.meta.url).href, export: 'diskUser' }

async function start(t: { teardown(fn: () => unknown): void }) {
  const root = mkdtempSync(join(tmpdir(), 't3fs-ctx-disk-'))
  const runtime = await NodeRuntime.start({
    hostsPerDomain: 2, domains: [{ id: 0, cpus: [0, 1] }], disk: { root },
    bufferPool: { classes: [{ slotBytes: 1 << 20, slots: 40 }] },
  })
  t.teardown(async () => { await runtime.shutdown(); rmSync(root, { recursive: true, force: true }) })
  return { root, runtime }
}

t.test('an actor on a worker host does O_DIRECT I/O through ctx.disk into its pool buffers, 16 reads in flight', { skip }, async (t) => {
  const { runtime } = await start(t)
  const writer = await runtime.spawn<DiskUserMsg>(fixture, undefined, { host: 1 })
  const reader = await runtime.spawn<DiskUserMsg>(fixture, undefined, { host: 2 })
  t.ok([512, 4096].includes(await writer.ask({ type: 'alignment' })), 'the disk reports its O_DIRECT alignment')
  const written = await writer.ask({ type: 'write-direct', path: 'chunks', blocks: 16, blockBytes: 1 << 20 }, { timeoutMs: 30_000 })
  const read = await reader.ask({ type: 'read-direct', path: 'chunks', blocks: 16, blockBytes: 1 << 20 }, { timeoutMs: 30_000 })
  t.same(read, written, 'another host read back every block as written')
  t.same(runtime.system.bufferPool!.inUse(), [0], 'every buffer went back to the pool')
})

t.test('a crashed actor\'s open files are closed for it', { skip }, async (t) => {
  const { runtime } = await start(t)
  const user = await runtime.spawn<DiskUserMsg>(fixture, undefined, { host: 1 })
  await user.ask({ type: 'write-direct', path: 'f', blocks: 1, blockBytes: 4096 })
  const before = readdirSync('/proc/self/fd').length
  for (let i = 0; i < 10; i++) await user.ask({ type: 'hold-open', path: 'f' })
  t.equal(readdirSync('/proc/self/fd').length, before + 10, 'ten files open')
  user.tell({ type: 'crash' })
  let now = readdirSync('/proc/self/fd').length
  for (let i = 0; i < 200 && now !== before; i++) {
    await new Promise((r) => setTimeout(r, 10))
    now = readdirSync('/proc/self/fd').length
  }
  t.equal(now, before, 'all ten closed after the crash')
  t.equal(await user.ask({ type: 'alignment' }) > 0, true, 'the restarted actor has the disk too')
})
