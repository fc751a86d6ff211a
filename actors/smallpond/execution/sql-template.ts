/**
 * smallpond's SQL placeholder grammar (Python str.format subset): `{0}`, `{1}`, … are the input views,
 * `{name}` a named parameter (partition dimensions, rand_seed, …); `{{` and `}}` are literal braces.
 */
import { smallpondError, SmallpondErrorCode } from '../errors.ts'

const TOKEN = /\{\{|\}\}|\{([^{}]*)\}/g

export function formatSql(query: string, positional: readonly string[], named: Readonly<Record<string, string | number>>): string {
  return query.replace(TOKEN, (whole, name: string | undefined) => {
    if (whole === '{{') return '{'
    if (whole === '}}') return '}'
    const key = (name ?? '').trim()
    if (/^\d+$/.test(key)) {
      const i = Number(key)
      if (i < positional.length) return positional[i]
      throw placeholderError(query, whole, `{0}..{${positional.length - 1}} for ${positional.length} input(s)`)
    }
    if (Object.hasOwn(named, key)) return String(named[key])
    throw placeholderError(query, whole, [...positional.map((_, i) => `{${i}}`), ...Object.keys(named).map((k) => `{${k}}`)].join(', ') +
      '; write literal braces as {{ and }}')
  })
}

function placeholderError(query: string, placeholder: string, accepted: string): Error {
  return smallpondError(SmallpondErrorCode.sql,
    `unknown placeholder ${placeholder} in query: ${query}; accepted: ${accepted || 'none (no inputs)'}`,
    { query, placeholder })
}

/**
 * Substitutes only `{0}` with `inner` and keeps every other token as it is (doubled braces stay
 * doubled), so a fused query can still be formatted later with named placeholders.
 */
export function substituteFirstInput(query: string, inner: string): string {
  return query.replace(TOKEN, (whole, name: string | undefined) => (name !== undefined && name.trim() === '0' ? inner : whole))
}

/** True when the query uses a positional placeholder other than {0}. */
export function usesOtherInputs(query: string): boolean {
  for (const m of query.matchAll(TOKEN)) {
    if (m[1] !== undefined && /^\d+$/.test(m[1].trim()) && m[1].trim() !== '0') return true
  }
  return false
}

export function quoteLiteral(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`
}
