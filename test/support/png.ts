/**
 * A small PNG decoder for screenshot checks: 8-bit RGB/RGBA (what Chromium writes), no interlace.
 * Chunks are read, IDAT inflated with zlib, and each scanline's filter undone.
 */
import { inflateSync } from 'node:zlib'

export interface DecodedPng {
  readonly width: number
  readonly height: number
  readonly channels: number
  /** Row-major samples, `channels` per pixel. */
  readonly pixels: Uint8Array
}

export function decodePng(png: Uint8Array): DecodedPng {
  const signature = [137, 80, 78, 71, 13, 10, 26, 10]
  if (!signature.every((b, i) => png[i] === b)) throw new Error('not a PNG')
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength)
  let width = 0
  let height = 0
  let channels = 0
  const idat: Uint8Array[] = []
  for (let at = 8; at < png.length;) {
    const length = view.getUint32(at)
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8))
    const body = png.subarray(at + 8, at + 8 + length)
    if (type === 'IHDR') {
      width = view.getUint32(at + 8)
      height = view.getUint32(at + 12)
      const depth = body[8]
      const colorType = body[9]
      if (depth !== 8 || (colorType !== 2 && colorType !== 6) || body[12] !== 0) throw new Error(`unsupported PNG: depth ${depth}, color type ${colorType}, interlace ${body[12]}`)
      channels = colorType === 6 ? 4 : 3
    } else if (type === 'IDAT') {
      idat.push(body)
    } else if (type === 'IEND') {
      break
    }
    at += 12 + length
  }
  const raw = inflateSync(Buffer.concat(idat))
  const stride = width * channels
  const pixels = new Uint8Array(height * stride)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1))
    const out = pixels.subarray(y * stride, (y + 1) * stride)
    const up = y === 0 ? new Uint8Array(stride) : pixels.subarray((y - 1) * stride, y * stride)
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[x - channels] : 0
      const b = up[x]
      const c = x >= channels ? up[x - channels] : 0
      let predictor = 0
      if (filter === 1) predictor = a
      else if (filter === 2) predictor = b
      else if (filter === 3) predictor = (a + b) >> 1
      else if (filter === 4) predictor = paeth(a, b, c)
      else if (filter !== 0) throw new Error(`bad PNG filter ${filter} on row ${y}`)
      out[x] = (line[x] + predictor) & 0xff
    }
  }
  return { width, height, channels, pixels }
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c
  const pa = Math.abs(p - a)
  const pb = Math.abs(p - b)
  const pc = Math.abs(p - c)
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

/** Distinct RGB colours and the standard deviation of luminance over the image. */
export function pixelStats(image: DecodedPng): { colors: number; luminanceStdDev: number } {
  const colors = new Set<number>()
  let sum = 0
  let sumSquares = 0
  const n = image.width * image.height
  for (let i = 0; i < n; i++) {
    const o = i * image.channels
    const r = image.pixels[o]
    const g = image.pixels[o + 1]
    const b = image.pixels[o + 2]
    colors.add((r << 16) | (g << 8) | b)
    const y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    sum += y
    sumSquares += y * y
  }
  const mean = sum / n
  return { colors: colors.size, luminanceStdDev: Math.sqrt(Math.max(0, sumSquares / n - mean * mean)) }
}
