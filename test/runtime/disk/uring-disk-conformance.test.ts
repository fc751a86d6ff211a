/**
 * UringDisk (real files, the host thread's io_uring) against the same Disk conformance suite as
 * SimDisk: the behaviour storage code relies on is the same in production and in the simulator.
 */
import t from 'tap'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { nativeAvailable } from '../../../native/index.ts'
import { UringDisk } from '../../../runtime/disk/uring-disk.ts'
import { diskConformance } from './disk-conformance.ts'

t.test('UringDisk in a temp directory', { skip: nativeAvailable() ? false : 'UringDisk needs the native addon (npm run build:native)' }, async (t) => {
  diskConformance(t, async (t) => {
    const root = mkdtempSync(join(tmpdir(), 't3fs-uring-conformance-'))
    const disk = await UringDisk.open({ root })
    t.teardown(async () => { await disk.close(); rmSync(root, { recursive: true, force: true }) })
    return disk
  })
})
