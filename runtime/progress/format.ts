/**
 * What a progress line says, as pure functions of numbers (no stream, no clock), so the wording,
 * the units and the ETA arithmetic are tested on their own.
 *
 *   smallpond: tasks 12/40 (30%) · 2 running, 0 failed · 1.2 s, ETA 2.8 s
 *   bench:kv: [3/9] create x16 · 4.0 s
 *   wait-sync: sync 400/400 chunks (100%) · all 3 targets SERVING · done in 40 s
 */

export interface PhaseView {
  /** Who reports (`smallpond`, `bench:kv`, `wait-sync`). */
  readonly label: string
  /** What runs now (a phase of the work). */
  readonly name: string
  /** This phase's place among the work's phases, when the work knows how many it has. */
  readonly step?: { readonly index: number; readonly of: number | undefined }
  readonly done?: number
  readonly total?: number
  /** What done/total count (`tasks`, `chunks`); `bytes` prints binary sizes. */
  readonly unit?: string
  readonly detail?: string
  readonly elapsedMs: number
  readonly etaMs?: number
  /** The last line of the phase: it says how long the phase took instead of an ETA. */
  readonly ended?: 'done' | 'failed'
}

const KIB = 1024
const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const

/** `512 B`, `1.5 KiB`, `12.3 MiB`, `2.00 GiB`. */
export function formatBytes(bytes: number): string {
  let value = Math.max(0, bytes)
  let unit = 0
  while (value >= KIB && unit < UNITS.length - 1) {
    value /= KIB
    unit++
  }
  if (unit === 0) return `${Math.round(value)} B`
  return `${value.toFixed(value < 10 ? 2 : 1)} ${UNITS[unit]}`
}

/** `0.4 s`, `12 s`, `3m05s`, `2h07m`: precise while short, coarse when long. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, ms) / 1000
  if (seconds < 10) return `${seconds.toFixed(1)} s`
  if (seconds < 60) return `${Math.floor(seconds)} s`
  const whole = Math.floor(seconds)
  if (whole < 3600) return `${Math.floor(whole / 60)}m${String(whole % 60).padStart(2, '0')}s`
  return `${Math.floor(whole / 3600)}h${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')}m`
}

/**
 * Time left at the average rate so far: `progressed` units took `elapsedMs`, `remaining` are left.
 * Undefined while nothing has progressed (no rate yet) or the inputs make no sense.
 */
export function etaMs(progressed: number, remaining: number, elapsedMs: number): number | undefined {
  if (!(progressed > 0) || !(remaining >= 0) || !(elapsedMs > 0)) return undefined
  return (remaining * elapsedMs) / progressed
}

function countText(done: number | undefined, total: number | undefined, unit: string | undefined): string {
  if (done === undefined) return ''
  const bytes = unit === 'bytes'
  const show = (n: number): string => (bytes ? formatBytes(n) : String(n))
  const suffix = bytes || unit === undefined ? '' : ` ${unit}`
  if (total === undefined) return ` ${show(done)}${suffix}`
  const percent = total <= 0 ? 100 : Math.min(100, Math.floor((100 * done) / total))
  return ` ${show(done)}/${show(total)}${suffix} (${percent}%)`
}

/** The whole line, without any control character (see `plainText`). */
export function progressLine(v: PhaseView): string {
  const step = v.step === undefined ? '' : `[${v.step.index}${v.step.of !== undefined && v.step.index <= v.step.of ? `/${v.step.of}` : ''}] `
  const parts = [`${v.label}: ${step}${v.name}${countText(v.done, v.total, v.unit)}`]
  if (v.detail !== undefined && v.detail !== '') parts.push(v.detail)
  if (v.ended === 'done') parts.push(`done in ${formatDuration(v.elapsedMs)}`)
  else if (v.ended === 'failed') parts.push(`failed after ${formatDuration(v.elapsedMs)}`)
  else parts.push(`${formatDuration(v.elapsedMs)}${v.etaMs === undefined ? '' : `, ETA ${formatDuration(v.etaMs)}`}`)
  return plainText(parts.join(' · '))
}

/**
 * Text from callers (an error message, a path) may hold newlines, tabs or escape sequences; any of
 * them would break a redrawn line or put control characters into a log. Each becomes a space.
 */
export function plainText(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ')
}
