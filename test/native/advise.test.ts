/**
 * Huge-page advice (native/src/advise.rs) and the buffer pool that asks for it: the kernel marks
 * the advised range of the mapping (VmFlags `hg` in /proc/self/smaps), only whole aligned 2 MiB
 * pieces are advised, and a pool's chunk class is advised before anything touches it.
 */
import t from 'tap'
import { readFileSync } from 'node:fs'
import { nativeAvailable } from '../../native/addon.ts'
import { cmaAddress } from '../../native/cma.ts'
import { adviseHugePages } from '../../native/index.ts'
import { allocateBufferPool } from '../../runtime/buffer-pool.ts'

const HUGE = 2 * 1024 * 1024

/** The VmFlags of the mapping of this process that holds `address`. */
function vmFlagsAt(address: number): string[] {
  let inside = false
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line)
    if (range !== null) inside = parseInt(range[1], 16) <= address && address < parseInt(range[2], 16)
    else if (inside && line.startsWith('VmFlags:')) return line.slice(8).trim().split(/\s+/)
  }
  throw new Error(`no mapping of this process holds ${address.toString(16)}`)
}

const alignedStart = (view: Uint8Array): number => Math.ceil(cmaAddress(view) / HUGE) * HUGE

if (!nativeAvailable()) {
  t.comment('skipped: the native addon is not built (npm run build:native)')
  t.pass('skipped: no native addon')
} else {
  t.test('advises the aligned 2 MiB pieces of a view, and the kernel marks them', async (t) => {
    const view = new Uint8Array(new SharedArrayBuffer(7 * 1024 * 1024))
    const advised = adviseHugePages(view)
    const start = alignedStart(view)
    const end = Math.floor((cmaAddress(view) + view.length) / HUGE) * HUGE
    t.equal(advised, end - start, 'every whole aligned 2 MiB inside the view, nothing beyond it')
    t.ok(advised >= 4 * 1024 * 1024, `7 MiB hold at least two aligned 2 MiB pieces (advised ${advised})`)
    t.ok(vmFlagsAt(start).includes('hg'), 'the mapping is marked for huge pages (VmFlags hg)')
    t.equal(adviseHugePages(new Uint8Array(new ArrayBuffer(1024 * 1024))), 0, 'a 1 MiB view holds no aligned 2 MiB: nothing advised')
  })

  t.test('a buffer pool asks for huge pages under its chunk slots', async (t) => {
    const pool = allocateBufferPool({ classes: [{ slotBytes: 64 * 1024, slots: 4 }, { slotBytes: 1024 * 1024, slots: 8 }] })
    const chunks = new Uint8Array(pool.classes[1].data)
    t.ok(vmFlagsAt(alignedStart(chunks)).includes('hg'), 'the 1 MiB class (8 MiB) is advised')
  })
}
