import t from 'tap'
import { randomBytes } from 'node:crypto'
import { crc32c, crc32cCombine, crc32cHardware, crc32cSegments, crc32cSoftware } from '../../native/index.ts'
import { expectCode } from './expect-code.ts'

t.test('known vectors (RFC 3720 B.4 and the "123456789" check value)', async (t) => {
  const vectors: Array<[Uint8Array, number, string]> = [
    [Buffer.from('123456789'), 0xe3069283, '"123456789"'],
    [Buffer.alloc(32, 0x00), 0x8a9136aa, '32 bytes of zeros'],
    [Buffer.alloc(32, 0xff), 0x62a8ab43, '32 bytes of ones'],
    [Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e, '32 incrementing bytes'],
    [Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c, '32 decrementing bytes'],
    [new Uint8Array(0), 0, 'empty'],
  ]
  for (const [data, expected, name] of vectors) {
    t.equal(crc32c(data), expected, `hardware path: ${name}`)
    t.equal(crc32cSoftware(data), expected, `software path: ${name}`)
  }
  // RFC 3720 B.4: an iSCSI SCSI Read (10) command PDU (48 bytes).
  const pdu = Buffer.from(
    '01c00000000000000000000000000000140000000400000000000000140000001800000028000000000000000200000000000000'.slice(0, 96),
    'hex',
  )
  t.equal(pdu.length, 48)
  t.equal(crc32c(pdu), crc32cSoftware(pdu), 'iSCSI read command PDU: both paths agree')
})

t.test('hardware and software agree on random data of every awkward size and alignment', async (t) => {
  t.comment(`SSE4.2 available: ${crc32cHardware()}`)
  const big = randomBytes(3 * 8192 * 4 + 4099)
  for (const len of [1, 7, 8, 9, 63, 4096, 24575, 24576, 24577, 49152 + 17, big.length - 13]) {
    for (const offset of [0, 1, 3, 13]) {
      const view = big.subarray(offset, offset + len)
      t.equal(crc32c(view), crc32cSoftware(view), `len ${len} offset ${offset}`)
    }
  }
})

t.test('incremental update equals one pass; combine joins two CRCs', async (t) => {
  const data = randomBytes(100_000)
  for (const cut of [0, 1, 5000, 24576, 99_999, 100_000]) {
    const a = data.subarray(0, cut)
    const b = data.subarray(cut)
    t.equal(crc32c(b, crc32c(a)), crc32c(data), `update across ${cut}`)
    t.equal(crc32cCombine(crc32c(a), crc32c(b), b.length), crc32c(data), `combine at ${cut}`)
  }
  t.equal(crc32cCombine(0xe3069283, 0, 0), 0xe3069283, 'combining with empty B is the identity')
  t.equal(crc32cCombine(crc32c(data), crc32c(Buffer.alloc(0)), 0n), crc32c(data), 'bigint length accepted')
})

t.test('SharedArrayBuffer-backed views and other typed arrays are accepted', async (t) => {
  const sab = new SharedArrayBuffer(16)
  const view = new Uint8Array(sab)
  view.set(Buffer.from('123456789'))
  t.equal(crc32c(view.subarray(0, 9)), 0xe3069283)
  const words = new Uint32Array([0x34333231, 0x38373635])
  t.equal(crc32c(words), crc32c(Buffer.from('12345678')), 'Uint32Array counts bytes, not elements')
})

t.test('bad arguments are coded errors', async (t) => {
  await expectCode(t, () => crc32c('abc' as unknown as Uint8Array), 'ERR_INVALID_ARG', 'a string is not a buffer')
  await expectCode(t, () => crc32cCombine(-1, 0, 1), 'ERR_INVALID_ARG', 'a negative CRC')
  await expectCode(t, () => crc32c(new Uint8Array(1), 2 ** 32), 'ERR_INVALID_ARG', 'an initial CRC beyond uint32')
})

t.test('an addon that was not built is ERR_NATIVE_UNAVAILABLE with the way to build it', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const index = new URL('../../native/index.ts', import.meta.url).href
  const script = `import(${JSON.stringify(index)}).then((m) => { try { m.crc32c(new Uint8Array(1)) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) } })`
  const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], {
    env: { PATH: process.env.PATH ?? '', T3FS_NATIVE_ADDON: '/nonexistent/t3fs_native.node' }, encoding: 'utf8',
  })
  const error = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { code?: string; message?: string }
  t.equal(error.code, 'ERR_NATIVE_UNAVAILABLE')
  t.match(error.message ?? '', /was not built.*npm run build:native/)
})

t.test('crc32cSegments: each segment as crc32c computes it, the whole as one pass, at any offset and alignment', async (t) => {
  const big = randomBytes(64 * 1024 + 4099)
  for (const segment of [8, 512, 4096, 65536]) {
    for (const len of [0, 1, segment, 3 * segment, 3 * segment + 5, 7 * segment - 1, big.length - 3]) {
      for (const offset of [0, 3]) {
        const data = big.subarray(offset, offset + Math.min(len, big.length - offset))
        const count = Math.ceil(data.length / segment)
        const out = new Uint32Array(count + 2).fill(0xdeadbeef)
        t.equal(crc32cSegments(data, segment, out, 1), crc32c(data), `whole: segment ${segment} len ${data.length} offset ${offset}`)
        const expected = Array.from({ length: count }, (_, s) => crc32cSoftware(data.subarray(s * segment, Math.min((s + 1) * segment, data.length))))
        t.same([...out.subarray(1, 1 + count)], expected, `segments: segment ${segment} len ${data.length} offset ${offset}`)
        t.equal(out[0], 0xdeadbeef, 'nothing written before outIndex')
        t.equal(out[count + 1], 0xdeadbeef, 'nothing written past the segments')
      }
    }
  }
  await expectCode(t, () => crc32cSegments(big, 4096, new Uint32Array(2)), 'ERR_INVALID_ARG', 'an out array too small is refused')
  await expectCode(t, () => crc32cSegments(big, 0, new Uint32Array(100)), 'ERR_INVALID_ARG', 'segment size 0 is refused')
})
