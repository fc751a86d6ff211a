/**
 * Unit strings for durations ('500ms', '5s', '1min') and sizes ('64KiB', '1MiB').
 *
 * Deliberately small and strict: one number, one unit, no spaces inside, no guessing. Decimal
 * size units ('KB', 'MB') are rejected because 3FS writes '1MB' for 1 MiB; accepting them would
 * make every size ambiguous by a factor of 1.05.
 */

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  min: 60_000,
  h: 3_600_000,
}

const SIZE_UNITS_BYTES: Readonly<Record<string, number>> = {
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
}

const UNIT_PATTERN = /^(\d+(?:\.\d+)?)([A-Za-z]+)$/

export const DURATION_ACCEPTED = 'a duration string such as "250ms", "5s", "1min" (units us, ms, s, min, h)'
export const SIZE_ACCEPTED = 'an integer number of bytes or a size string such as "64KiB", "1MiB" (units B, KiB, MiB, GiB, TiB)'

/** Milliseconds of a duration string, or undefined when the string is not one. */
export function parseDurationMs(text: string): number | undefined {
  const match = UNIT_PATTERN.exec(text.trim())
  if (!match) return undefined
  const scale = DURATION_UNITS_MS[match[2]]
  if (scale === undefined) return undefined
  return Number(match[1]) * scale
}

/** Bytes of a size string or integer, or undefined when it is not one (or not a whole byte count). */
export function parseSizeBytes(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined
  if (typeof value !== 'string') return undefined
  const match = UNIT_PATTERN.exec(value.trim())
  if (!match) return undefined
  const scale = SIZE_UNITS_BYTES[match[2]]
  if (scale === undefined) return undefined
  const bytes = Number(match[1]) * scale
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

export function formatDurationMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}min`
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

export function formatSizeBytes(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const scale = SIZE_UNITS_BYTES[unit]
    if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${unit}`
  }
  return `${bytes}B`
}
