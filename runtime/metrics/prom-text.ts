/**
 * A reader of the Prometheus text format (version 0.0.4), as /metrics serves it: families with
 * their HELP and TYPE, samples with labels (escapes \\ \" \n) and values (+Inf, -Inf, NaN).
 * The tests read scrapes with it, and the dashboard can read other nodes' /metrics.
 */
import { T3fsError } from '../errors.ts'

export interface Sample {
  /** The sample's own name (`x_bucket`, `x_sum`, `x_count` for a histogram `x`). */
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  help: string
  type: string
  readonly samples: Sample[]
}

/** Lines one scrape may hold: a bound against a runaway endpoint. */
export const promTextLinesMax = 1_000_000

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+-?\d+)?$/
const suffixes = ['_bucket', '_sum', '_count', '_total']

function bad(lineNo: number, line: string, why: string): T3fsError {
  return new T3fsError('ERR_PROM_TEXT', `line ${lineNo} of the metrics text ${JSON.stringify(line.slice(0, 200))}: ${why}; accepted: the Prometheus text format 0.0.4`, { line: lineNo })
}

export function parsePromText(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const family = (name: string): Family => {
    let f = families.get(name)
    if (f === undefined) families.set(name, (f = { name, help: '', type: 'untyped', samples: [] }))
    return f
  }
  const lines = text.split('\n')
  if (lines.length > promTextLinesMax) throw bad(promTextLinesMax, '', `more than ${promTextLinesMax} lines`)
  lines.forEach((raw, i) => {
    const line = raw.trim()
    if (line === '') return
    if (line.startsWith('#')) {
      const meta = /^#\s+(HELP|TYPE)\s+([a-zA-Z_:][a-zA-Z0-9_:]*)\s?(.*)$/.exec(line)
      if (meta === null) return // a comment
      if (meta[1] === 'HELP') family(meta[2]).help = meta[3].replace(/\\n/g, '\n').replace(/\\\\/g, '\\')
      else family(meta[2]).type = meta[3]
      return
    }
    const m = sampleLine.exec(line)
    if (m === null) throw bad(i + 1, line, 'not a sample')
    const value = parseValue(m[3])
    if (value === undefined) throw bad(i + 1, line, `value ${m[3]} is not a number`)
    const labels = m[2] === undefined ? {} : parseLabels(m[2], i + 1, line)
    family(familyOf(m[1], families)).samples.push({ name: m[1], labels, value })
  })
  return families
}

/** `x_bucket` belongs to family `x` when `x` was declared (by TYPE) before it. */
function familyOf(name: string, families: Map<string, Family>): string {
  if (families.has(name)) return name
  for (const suffix of suffixes) {
    if (name.endsWith(suffix) && families.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length)
  }
  return name
}

function parseValue(text: string): number | undefined {
  if (text === '+Inf' || text === 'Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (text === 'NaN') return NaN
  const n = Number(text)
  return Number.isNaN(n) ? undefined : n
}

function parseLabels(block: string, lineNo: number, line: string): Record<string, string> {
  const labels: Record<string, string> = {}
  let i = 1
  const end = block.length - 1
  while (i < end) {
    const name = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(block.slice(i))
    if (name === null) throw bad(lineNo, line, 'malformed labels')
    i += name[0].length
    let value = ''
    for (;;) {
      if (i >= end) throw bad(lineNo, line, 'unterminated label value')
      const c = block[i++]
      if (c === '"') break
      if (c !== '\\') { value += c; continue }
      const e = block[i++]
      value += e === 'n' ? '\n' : e
    }
    labels[name[1]] = value
    const rest = /^\s*,?\s*/.exec(block.slice(i))!
    i += rest[0].length
  }
  return labels
}

/** The value of the sample of `name` whose labels include `labels` (summed over the matches; 0 when none). */
export function sampleValue(families: Map<string, Family>, name: string, labels: Readonly<Record<string, string>> = {}, sampleName = name): number {
  const f = families.get(name)
  if (f === undefined) return 0
  let sum = 0
  for (const s of f.samples) {
    if (s.name !== sampleName) continue
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) sum += s.value
  }
  return sum
}
