/**
 * Where a key's block lives: `<root>/<aa>/<bb>/<key>`, `aabb` the first 16 bits of the key's
 * CRC32C, so 65,536 leaf directories share the blocks evenly and no directory grows huge (meta
 * lists and locks one directory at a time). A put writes `<leaf>/.tmp.<key>.<writer>.<seq>` and
 * renames it over the key's name: the rename is one meta transaction, so a reader opens the old
 * block or the new one, never a half-written file.
 */
import { crc32c } from '../../runtime/index.ts'

export const tempPrefix = '.tmp.'

export function leafDir(root: string, key: string): string {
  const h = crc32c(Buffer.from(key, 'utf8')) >>> 16
  const hex = h.toString(16).padStart(4, '0')
  return `${root}/${hex.slice(0, 2)}/${hex.slice(2, 4)}`
}

export function blockPath(root: string, key: string): string {
  return `${leafDir(root, key)}/${key}`
}

export function tempPath(root: string, key: string, writer: string, seq: number): string {
  return `${leafDir(root, key)}/${tempPrefix}${key}.${writer}.${seq}`
}

/** Fan-out directory names are two lower-case hex digits. */
export const fanoutName = /^[0-9a-f]{2}$/
