import t from 'tap'
import fc from 'fast-check'
import {
  ATTR_BYTES, ENTRY_OUT_BYTES, IN_HEADER_BYTES, LK_FLOCK, NotifyCode, OUT_HEADER_BYTES, Opcode, RenameFlag, ROOT_ID, S_IFREG, SetattrValid,
  decodeAttr, decodeOutHeader, decodeRequest, encodeCreate, encodeDeleteEntry, encodeDirentsPlus, encodeInvalEntry, encodeInvalInode,
  encodeLock, encodeLseek, encodeRequest, encodeWrite, encodeXattrSize, type Attr, type Request,
} from '../../../../actors/client/fuse/kernel-protocol.ts'

const hdr = (opcode: number, nodeid = ROOT_ID) => ({ opcode, unique: 9n, nodeid, uid: 1000, gid: 100, pid: 42 })
function req(opcode: number, ...parts: Uint8Array[]): Request {
  const body = Buffer.concat(parts)
  const buf = new Uint8Array(IN_HEADER_BYTES + body.length)
  encodeRequest(buf, hdr(opcode), body)
  return decodeRequest(buf)
}
/** Little-endian fields of widths 4 or 8. */
function le(...fields: Array<[4 | 8, number | bigint]>): Buffer {
  const b = Buffer.alloc(fields.reduce((s, [w]) => s + w, 0))
  let o = 0
  for (const [w, x] of fields) {
    if (w === 8) b.writeBigUInt64LE(BigInt(x), o)
    else b.writeUInt32LE(Number(x), o)
    o += w
  }
  return b
}
const z = (s: string): Buffer => Buffer.from(`${s}\0`)

t.test('namespace requests decode with their fields and names', async (t) => {
  t.match(req(Opcode.UNLINK, z('gone')), { kind: 'UNLINK', name: 'gone', header: { uid: 1000, gid: 100, pid: 42 } })
  t.match(req(Opcode.RMDIR, z('d')), { kind: 'RMDIR', name: 'd' })
  t.match(req(Opcode.SYMLINK, z('link'), z('../target/x')), { kind: 'SYMLINK', name: 'link', target: '../target/x' })
  t.match(req(Opcode.MKNOD, le([4, S_IFREG | 0o640], [4, 0], [4, 0o22], [4, 0]), z('f')), { kind: 'MKNOD', mode: S_IFREG | 0o640, umask: 0o22, name: 'f' })
  t.match(req(Opcode.RENAME, le([8, 77n]), z('a'), z('b')), { kind: 'RENAME', newDir: 77n, name: 'a', newName: 'b', flags: 0 })
  t.match(req(Opcode.RENAME2, le([8, 5n], [4, RenameFlag.NOREPLACE], [4, 0]), z('x'), z('y')), { kind: 'RENAME', newDir: 5n, flags: 1, name: 'x', newName: 'y' })
  t.match(req(Opcode.LINK, le([8, 12n]), z('hard')), { kind: 'LINK', oldNodeid: 12n, name: 'hard' })
  t.match(req(Opcode.CREATE, le([4, 0o101], [4, S_IFREG | 0o644], [4, 0o22], [4, 0]), z('new')), { kind: 'CREATE', flags: 0o101, mode: S_IFREG | 0o644, name: 'new' })
  const setattr = req(Opcode.SETATTR, le([4, SetattrValid.SIZE | SetattrValid.MODE | SetattrValid.MTIME], [4, 0], [8, 3n], [8, 4096n], [8, 0n], [8, 10n], [8, 20n], [8, 30n],
    [4, 1], [4, 2], [4, 3], [4, 0o600], [4, 0], [4, 7], [4, 8], [4, 0]))
  t.match(setattr, { kind: 'SETATTR', valid: 8 | 1 | 32, fh: 3n, size: 4096n, atimeSec: 10n, mtimeSec: 20n, mtimeNsec: 2, mode: 0o600, uid: 7, gid: 8 })
  t.match(req(Opcode.SETXATTR, le([4, 3], [4, 1]), z('t3fs.lock'), Buffer.from('abc')), { kind: 'SETXATTR', name: 't3fs.lock', flags: 1 })
  t.same(Buffer.from((req(Opcode.SETXATTR, le([4, 3], [4, 0]), z('n'), Buffer.from('abcdef')) as { value: Uint8Array }).value).toString(), 'abc', 'the value is size bytes')
  t.match(req(Opcode.GETXATTR, le([4, 64], [4, 0]), z('user.x')), { kind: 'GETXATTR', name: 'user.x', size: 64 })
  t.match(req(Opcode.LISTXATTR, le([4, 0], [4, 0])), { kind: 'LISTXATTR', size: 0 })
  t.match(req(Opcode.REMOVEXATTR, z('user.x')), { kind: 'REMOVEXATTR', name: 'user.x' })
  t.match(req(Opcode.ACCESS, le([4, 4], [4, 0])), { kind: 'ACCESS', mask: 4 })
  t.match(req(Opcode.READLINK), { kind: 'READLINK' })
  t.match(req(Opcode.LOOKUP, Buffer.from('héllo wörld\0')), { kind: 'LOOKUP', name: 'héllo wörld' })
})

t.test('file requests decode with their fields', async (t) => {
  const w = req(Opcode.WRITE, le([8, 4n], [8, 8192n], [4, 5], [4, 2], [8, 99n], [4, 0o2], [4, 0]), Buffer.from('hello'))
  t.match(w, { kind: 'WRITE', fh: 4n, offset: 8192n, size: 5, writeFlags: 2, lockOwner: 99n, flags: 2 })
  t.equal(Buffer.from((w as { data: Uint8Array }).data).toString(), 'hello', 'WRITE data is a view of the request')
  t.match(req(Opcode.FSYNC, le([8, 4n], [4, 1], [4, 0])), { kind: 'FSYNC', fh: 4n, datasync: true })
  t.match(req(Opcode.FSYNCDIR, le([8, 6n], [4, 0], [4, 0])), { kind: 'FSYNCDIR', fh: 6n, datasync: false })
  t.match(req(Opcode.SETLKW, le([8, 4n], [8, 55n], [8, 0n], [8, 99n], [4, 1], [4, 1234], [4, LK_FLOCK], [4, 0])),
    { kind: 'SETLKW', fh: 4n, owner: 55n, start: 0n, end: 99n, lockType: 1, pid: 1234, flock: true })
  t.match(req(Opcode.GETLK, le([8, 4n], [8, 55n], [8, 10n], [8, 20n], [4, 0], [4, 0], [4, 0], [4, 0])), { kind: 'GETLK', flock: false, start: 10n })
  t.match(req(Opcode.FALLOCATE, le([8, 4n], [8, 0n], [8, 1n << 20n], [4, 0], [4, 0])), { kind: 'FALLOCATE', length: 1n << 20n, mode: 0 })
  t.match(req(Opcode.LSEEK, le([8, 4n], [8, 100n], [4, 3], [4, 0])), { kind: 'LSEEK', offset: 100n, whence: 3 })
  t.match(req(Opcode.SYNCFS, le([8, 0n])), { kind: 'SYNCFS' })
})

t.test('malformed requests are refused with a coded error and the errno to answer', async (t) => {
  t.throws(() => req(Opcode.LOOKUP, Buffer.from('no-nul')), { code: 'ERR_FUSE_PROTOCOL', errno: 'EIO' })
  t.throws(() => req(Opcode.LOOKUP, Buffer.from([0xff, 0xfe, 0])), { code: 'ERR_FUSE_PROTOCOL', errno: 'EINVAL' }, 'a name that is not UTF-8')
  t.throws(() => req(Opcode.WRITE, le([8, 4n], [8, 0n], [4, 100], [4, 0], [8, 0n], [4, 0], [4, 0]), Buffer.from('short')), { code: 'ERR_FUSE_PROTOCOL' })
  t.throws(() => req(Opcode.SETXATTR, le([4, 99], [4, 0]), z('n'), Buffer.from('v')), { code: 'ERR_FUSE_PROTOCOL' })
  t.throws(() => req(Opcode.SETATTR, le([4, 1])), { code: 'ERR_FUSE_PROTOCOL' })
})

t.test('any bytes decode to a request or throw ERR_FUSE_PROTOCOL (fuzz)', async (t) => {
  const opcodes = Object.values(Opcode)
  fc.assert(fc.property(fc.constantFrom(...opcodes), fc.uint8Array({ maxLength: 300 }), fc.nat(3), (opcode, body, ext) => {
    const buf = new Uint8Array(IN_HEADER_BYTES + body.length)
    encodeRequest(buf, hdr(opcode), body)
    new DataView(buf.buffer).setUint16(36, ext, true) // extension headers the body may not hold
    try {
      return decodeRequest(buf).header.opcode === opcode
    } catch (error) {
      return (error as { code?: string }).code === 'ERR_FUSE_PROTOCOL'
    }
  }), { numRuns: 5000 })
  t.pass('5000 random requests')
})

const attr: Attr = { ino: 7n, size: 10, mode: S_IFREG | 0o644, nlink: 1, uid: 1, gid: 2 }

t.test('replies have the kernel struct layouts', async (t) => {
  const out = Buffer.alloc(8192)
  t.equal(encodeWrite(out, 3n, 4096), 24)
  t.equal(out.readUInt32LE(16), 4096)
  const n = encodeCreate(out, 4n, { nodeid: 7n, entryValidSec: 1, attrValidSec: 1, attr }, { fh: 11n, openFlags: 2 })
  t.equal(n, OUT_HEADER_BYTES + ENTRY_OUT_BYTES + 16, 'create = entry_out + open_out')
  t.equal(out.readBigUInt64LE(16), 7n)
  t.match(decodeAttr(out.subarray(16 + 40, 16 + 40 + ATTR_BYTES)), { ino: 7n, size: 10n })
  t.equal(out.readBigUInt64LE(16 + ENTRY_OUT_BYTES), 11n)
  t.equal(out.readUInt32LE(16 + ENTRY_OUT_BYTES + 8), 2)
  t.equal(encodeXattrSize(out, 5n, 33), 24)
  t.equal(out.readUInt32LE(16), 33)
  t.equal(encodeLock(out, 6n, { start: 1n, end: 2n, type: 1, pid: 77 }), 40)
  t.same([out.readBigUInt64LE(16), out.readBigUInt64LE(24), out.readUInt32LE(32), out.readUInt32LE(36)], [1n, 2n, 1, 77])
  t.equal(encodeLseek(out, 7n, 12345n), 24)
  t.equal(out.readBigUInt64LE(16), 12345n)

  const entries = [
    { ino: 1n, name: '.', type: 4, entry: null },
    { ino: 7n, name: 'file', type: 8, entry: { nodeid: 7n, entryValidSec: 1, attrValidSec: 1, attr } },
  ]
  const plus = encodeDirentsPlus(out, 8n, entries, 0, 4096)
  t.equal(plus.count, 2)
  const rec0 = (ENTRY_OUT_BYTES + 24 + 1 + 7) & ~7
  t.equal(out.readBigUInt64LE(16), 0n, 'an entry without a lookup has nodeid 0')
  t.equal(out.readBigUInt64LE(16 + ENTRY_OUT_BYTES + 8), 1n, 'dirent off = index + 1')
  t.equal(out.readBigUInt64LE(16 + rec0), 7n, 'second record starts aligned')
  t.equal(out.subarray(16 + rec0 + ENTRY_OUT_BYTES + 24, 16 + rec0 + ENTRY_OUT_BYTES + 28).toString(), 'file')
  t.equal(plus.length, 16 + rec0 + ((ENTRY_OUT_BYTES + 24 + 4 + 7) & ~7))
  t.equal(encodeDirentsPlus(out, 8n, entries, 0, rec0).count, 1, 'stops at the request size')
})

t.test('notifications carry unique 0 and the notify code', async (t) => {
  const out = Buffer.alloc(4096)
  t.equal(encodeInvalInode(out, 9n, -1n, 0n), 40)
  t.same(decodeOutHeader(out), { len: 40, error: NotifyCode.INVAL_INODE, unique: 0n })
  t.equal(out.readBigInt64LE(24), -1n)
  t.equal(encodeInvalEntry(out, 1n, 'name'), 16 + 16 + 5)
  t.same([decodeOutHeader(out).error, out.readUInt32LE(24), out.subarray(32, 37).toString()], [NotifyCode.INVAL_ENTRY, 4, 'name\0'])
  t.equal(encodeDeleteEntry(out, 1n, 9n, 'ab'), 16 + 24 + 3)
  t.same([decodeOutHeader(out).error, out.readBigUInt64LE(24), out.readUInt32LE(32)], [NotifyCode.DELETE, 9n, 2])
})
