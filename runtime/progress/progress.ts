/**
 * Progress of long work on the terminal (smallpond jobs, target sync, GraySort, benchmarks), always
 * on stderr: stdout stays the program's output (a bench's closing JSON line, a command's table).
 *
 * - A terminal (stream.isTTY, TERM not `dumb`): one line redrawn in place (`\r`, the line, clear to
 *   the end of the line), at most one redraw per `redrawIntervalMs` (100 ms: ≤ 10 per second), cut
 *   to the terminal's width so it never wraps; each phase's last line stays, ended by a newline.
 * - Anything else (a pipe, CI, a log file): plain lines without control characters: one when a
 *   phase starts, then at most one per `lineIntervalMs` (5 s), and one when it ends.
 * - `T3FS_PROGRESS=0` turns every display off, `T3FS_PROGRESS=1` turns it on (library code that
 *   did not ask for it too); unset, the program decides (`enabled`: CLIs and benches on, smallpond
 *   as a library off). Colour is never used, so NO_COLOR holds by construction.
 * Time comes from an injected Clock: tests drive throttling and the ETA without waiting.
 */
import { systemClock, type Clock } from '../clock.ts'
import { T3fsError, invalidOption } from '../errors.ts'
import { etaMs, plainText, progressLine, type PhaseView } from './format.ts'

/** Where progress is written: process.stderr, or any object with `write` (tests, the admin CLI's io). */
export interface ProgressStream {
  write(text: string): unknown
  readonly isTTY?: boolean
  /** The terminal's width; a redrawn line is cut to it. */
  readonly columns?: number
}

export interface ProgressOptions {
  /** Who reports: the start of every line (`smallpond`, `bench:kv`, `wait-sync`). */
  readonly label: string
  /** Default process.stderr. */
  readonly stream?: ProgressStream
  /** Default the system clock. */
  readonly clock?: Clock
  /** Where T3FS_PROGRESS and TERM are read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
  /** The program's choice while T3FS_PROGRESS is unset (default true). */
  readonly enabled?: boolean
  /** How many phases the work has, shown as `[k/n]` (optional). */
  readonly steps?: number
  /** Least time between two redraws on a terminal (default 100 ms). */
  readonly redrawIntervalMs?: number
  /** Least time between two plain lines of one phase (default 5000 ms). */
  readonly lineIntervalMs?: number
}

export interface PhaseOptions {
  readonly total?: number
  /** What done/total count (`tasks`, `chunks`, `files`; `bytes` prints sizes). */
  readonly unit?: string
  /**
   * Where the count starts (work joined midway); default 0 when a total is given. The ETA counts
   * from the first count the phase gets (here, or its first update with `done`).
   */
  readonly done?: number
  readonly detail?: string
}

export interface ProgressUpdate {
  readonly done?: number
  readonly total?: number
  readonly detail?: string
}

/** What long work reports to; a Progress that is off accepts everything and prints nothing. */
export interface ProgressSink {
  start(name: string, options?: PhaseOptions): void
  update(update: ProgressUpdate): void
  end(update?: ProgressUpdate): void
  fail(update?: ProgressUpdate): void
}

export type ProgressMode = 'redraw' | 'lines' | 'off'

export const DEFAULT_REDRAW_INTERVAL_MS = 100
export const DEFAULT_LINE_INTERVAL_MS = 5_000
const CLEAR_TO_END = '\x1b[K'

interface Phase {
  readonly name: string
  readonly startMs: number
  /** Where the ETA counts from: the count and time when the phase began counting. */
  base: { readonly done: number; readonly atMs: number } | null
  readonly step: number
  readonly unit: string | undefined
  done: number | undefined
  total: number | undefined
  detail: string | undefined
}

const SETTING_OFF = new Set(['0', 'false', 'off', 'no'])
const SETTING_ON = new Set(['1', 'true', 'on', 'yes'])

/** T3FS_PROGRESS: true (on), false (off), undefined (unset: the program decides). */
export function progressSetting(env: Readonly<Record<string, string | undefined>>): boolean | undefined {
  const raw = env.T3FS_PROGRESS
  if (raw === undefined || raw === '') return undefined
  const value = raw.trim().toLowerCase()
  if (SETTING_OFF.has(value)) return false
  if (SETTING_ON.has(value)) return true
  throw new T3fsError('ERR_INVALID_OPTION', `environment variable T3FS_PROGRESS is ${JSON.stringify(raw)}; accepted: 0 or 1 (also off/on, false/true, no/yes), or unset`, { option: 'T3FS_PROGRESS', value: raw })
}

function interval(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value < 0) throw invalidOption(name, value, 'a finite number of milliseconds ≥ 0')
  return value
}

export class Progress implements ProgressSink {
  readonly mode: ProgressMode
  private readonly label: string
  private readonly stream: ProgressStream
  private readonly clock: Clock
  private readonly steps: number | undefined
  private readonly intervalMs: number
  private phase: Phase | null = null
  private stepsStarted = 0
  private lastPrintMs = -Infinity
  /** A redrawn line is on the terminal without its newline. */
  private drawn = false

  constructor(options: ProgressOptions) {
    const env = options.env ?? process.env
    this.label = plainText(options.label)
    this.stream = options.stream ?? process.stderr
    this.clock = options.clock ?? systemClock
    if (options.steps !== undefined && !(Number.isInteger(options.steps) && options.steps >= 1)) throw invalidOption('steps', options.steps, 'an integer ≥ 1')
    this.steps = options.steps
    const on = progressSetting(env) ?? options.enabled ?? true
    this.mode = !on ? 'off' : this.stream.isTTY === true && env.TERM !== 'dumb' ? 'redraw' : 'lines'
    const redrawMs = interval('redrawIntervalMs', options.redrawIntervalMs, DEFAULT_REDRAW_INTERVAL_MS)
    const lineMs = interval('lineIntervalMs', options.lineIntervalMs, DEFAULT_LINE_INTERVAL_MS)
    this.intervalMs = this.mode === 'redraw' ? redrawMs : lineMs
  }

  /** Starts a phase (ending the one before) and shows it at once. */
  start(name: string, options: PhaseOptions = {}): void {
    if (this.phase !== null) this.end()
    const nowMs = this.clock.now()
    const done = options.done ?? (options.total === undefined ? undefined : 0)
    this.phase = {
      name: plainText(name), startMs: nowMs, base: done === undefined ? null : { done, atMs: nowMs }, step: ++this.stepsStarted,
      unit: options.unit, done, total: options.total, detail: options.detail,
    }
    this.print(undefined)
  }

  /** New figures for the running phase; shown when the last line is old enough. */
  update(update: ProgressUpdate): void {
    const phase = this.phase
    if (phase === null) return
    merge(phase, update, this.clock.now())
    if (this.mode !== 'off' && this.clock.now() - this.lastPrintMs >= this.intervalMs) this.print(undefined)
  }

  /** Ends the running phase with its last figures, always shown (with a newline on a terminal). */
  end(update: ProgressUpdate = {}): void {
    this.finish('done', update)
  }

  /** Ends the running phase as failed (the error itself is the caller's to report). */
  fail(update: ProgressUpdate = {}): void {
    this.finish('failed', update)
  }

  /** `start`, the work (given an `update` for its figures), then `end`, or `fail` if it throws. */
  async run<T>(name: string, work: (update: (update: ProgressUpdate) => void) => Promise<T>, options?: PhaseOptions): Promise<T> {
    this.start(name, options)
    let result: T
    try {
      result = await work((update) => this.update(update))
    } catch (error) {
      this.fail()
      throw error
    }
    this.end()
    return result
  }

  /**
   * A message line of its own, shown in every mode, on the progress stream or on `to` (a bench's
   * figures on stdout): a redrawn progress line is wiped first and drawn again below it, so the
   * two never share a line of the terminal.
   */
  log(text: string, to: ProgressStream = this.stream): void {
    const redrawn = this.mode === 'redraw' && this.drawn
    if (redrawn) this.stream.write(`\r${CLEAR_TO_END}`)
    this.drawn = false
    to.write(`${to === this.stream ? plainText(text) : text}\n`)
    if (redrawn) this.print(undefined)
  }

  private finish(ended: 'done' | 'failed', update: ProgressUpdate): void {
    const phase = this.phase
    if (phase === null) return
    merge(phase, update, this.clock.now())
    this.print(ended)
    this.phase = null
  }

  private print(ended: 'done' | 'failed' | undefined): void {
    const phase = this.phase
    if (this.mode === 'off' || phase === null) return
    const nowMs = this.clock.now()
    this.lastPrintMs = nowMs
    const line = progressLine(this.view(phase, nowMs, ended))
    if (this.mode === 'lines') {
      this.stream.write(`${line}\n`)
      return
    }
    this.stream.write(`\r${this.fit(line)}${CLEAR_TO_END}${ended === undefined ? '' : '\n'}`)
    this.drawn = ended === undefined
  }

  private view(phase: Phase, nowMs: number, ended: 'done' | 'failed' | undefined): PhaseView {
    const elapsedMs = nowMs - phase.startMs
    const { done, total, base } = phase
    const remaining = done === undefined || total === undefined ? 0 : total - done
    return {
      label: this.label, name: phase.name, step: this.steps === undefined ? undefined : { index: phase.step, of: this.steps },
      done, total, unit: phase.unit, detail: phase.detail, elapsedMs, ended,
      etaMs: ended === undefined && remaining > 0 && base !== null ? etaMs(done! - base.done, remaining, nowMs - base.atMs) : undefined,
    }
  }

  /** Cut to the terminal's width (one column spare: writing the last column wraps on some terminals). */
  private fit(line: string): string {
    const columns = this.stream.columns
    if (columns === undefined || columns < 2) return line
    const chars = Array.from(line)
    return chars.length < columns ? line : chars.slice(0, columns - 2).join('') + '…'
  }
}

function merge(phase: Phase, update: ProgressUpdate, nowMs: number): void {
  if (update.done !== undefined) {
    phase.done = update.done
    phase.base ??= { done: update.done, atMs: nowMs }
  }
  if (update.total !== undefined) phase.total = update.total
  if (update.detail !== undefined) phase.detail = plainText(update.detail)
}
