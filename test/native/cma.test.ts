/**
 * Cross-memory attach (native/cma.ts) between two real processes: a child keeps a buffer and says
 * where it is; this process copies it out, with and without the trailing word, and gets the errno
 * for memory that is not there and for a process that is gone.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { nativeAvailable } from '../../native/addon.ts'
import { cmaAddress, cmaRead, cmaReadChecked } from '../../native/cma.ts'

const CHILD = `
import { cmaAddress } from ${JSON.stringify(new URL('../../native/cma.ts', import.meta.url).href)}
const bytes = new Uint8Array(new ArrayBuffer(256 * 1024))
for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7 + 1) & 0xff
const word = new Uint32Array(new ArrayBuffer(4))
word[0] = 0xc0ffee
console.log(JSON.stringify({ pid: process.pid, bytes: cmaAddress(bytes), word: cmaAddress(new Uint8Array(word.buffer)) }))
setInterval(() => {}, 1000)
`

if (!nativeAvailable()) {
  t.comment('skipped: the native addon is not built (npm run build:native)')
  t.pass('skipped: no native addon')
} else {
  t.test('copies another process\'s bytes, reads its word after them, and names what went wrong', async (t) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', CHILD], { stdio: ['ignore', 'pipe', 'inherit'] })
    t.teardown(() => child.kill('SIGKILL'))
    const [line] = (await once(child.stdout!, 'data')) as [Buffer]
    const where = JSON.parse(line.toString()) as { pid: number; bytes: number; word: number }
    const into = new Uint8Array(256 * 1024)
    cmaRead(where.pid, into, where.bytes)
    t.ok(into.every((v, i) => v === ((i * 7 + 1) & 0xff)), 'every byte of the child\'s buffer')
    const part = new Uint8Array(new ArrayBuffer(4096))
    t.equal(cmaReadChecked(where.pid, part, where.bytes + 4096, where.word), 0xc0ffee, 'the word comes back')
    t.ok(part.every((v, i) => v === (((i + 4096) * 7 + 1) & 0xff)), 'with the bytes at the offset')
    t.throws(() => cmaRead(where.pid, part, 4096), { code: 'EFAULT' }, 'nothing mapped there: EFAULT')
    t.throws(() => cmaRead(where.pid, into, where.bytes + 128 * 1024 + 256 * 1024 * 1024), /EFAULT|ERR_CMA_SHORT/, 'a range past the mapping fails, never returns part')
    t.throws(() => cmaRead(0, part, where.bytes), { code: 'ERR_INVALID_ARG' }, 'pid 0 is refused')
    child.kill('SIGKILL')
    await once(child, 'exit')
    t.throws(() => cmaRead(where.pid, part, where.bytes), { code: 'ESRCH' }, 'a process that is gone: ESRCH')
    const mine = new Uint8Array(new ArrayBuffer(64)).fill(9)
    const copy = new Uint8Array(64)
    cmaRead(process.pid, copy, cmaAddress(mine))
    t.same([...copy], [...mine], 'this process may read itself')
  })
}
