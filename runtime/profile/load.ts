/**
 * Loads a profile: reads the TOML, merges its `include`d base files under it, validates every
 * key against the knob table and resolves paths.
 *
 * Merge rule (kept simple so a reader can predict it): tables merge key by key, the including
 * file wins; an array (`peers`, `actors`, `numa_domains`) set by the including file replaces the
 * base file's array as a whole. Every merged key remembers the file it came from, so an error in
 * a base file names the base file.
 */
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { parse, TomlError } from 'smol-toml'
import { T3fsError } from '../errors.ts'
import { profileError } from './errors.ts'
import { MAX_INCLUDE_DEPTH } from './schema.ts'
import type { Profile } from './profile.ts'
import { validateProfile, type Origins } from './validate.ts'

export type RawTable = Record<string, unknown>

export interface MergedProfile {
  readonly table: RawTable
  /** Dotted key → absolute file that set it. */
  readonly origins: Origins
  readonly files: readonly string[]
}

/** Where command-line overrides say they come from in errors. */
export const OVERRIDE_ORIGIN = '(command line --config)'

/**
 * Reads, merges and validates the profile at `file`. `overrides` (dotted key → value, as given by
 * 3FS-style `--config.a.b=value` flags) apply last, over every file. Throws T3fsError ERR_PROFILE.
 */
export function loadProfile(file: string, overrides: Readonly<Record<string, unknown>> = {}): Profile {
  const absolute = resolve(file)
  const merged = applyOverrides(readMerged(absolute), overrides)
  return validateProfile(absolute, merged)
}

/** Parses an override value the way TOML would read it, else keeps it as a string (`memory`, `127.0.0.1:9000`). */
export function parseOverrideValue(text: string): unknown {
  try {
    return (parse(`v = ${text}`) as { v: unknown }).v
  } catch {
    return text
  }
}

function applyOverrides(merged: MergedProfile, overrides: Readonly<Record<string, unknown>>): MergedProfile {
  const table = structuredClone(merged.table)
  for (const [key, value] of Object.entries(overrides)) {
    const parts = key.split('.')
    if (parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p)) || parts.length > 4) {
      throw profileError(OVERRIDE_ORIGIN, key, value, 'a dotted key such as transport.heartbeat_timeout, or actors.<name>.params.<knob> (other array entries cannot be overridden)', 'is not an overridable key')
    }
    if (parts[0] === 'actors') {
      setActorParam(table, key, parts, value)
      merged.origins.set(key, OVERRIDE_ORIGIN)
      continue
    }
    let at: RawTable = table
    for (const part of parts.slice(0, -1)) {
      const next = at[part]
      if (next === undefined) at[part] = {}
      else if (!isTable(next)) throw profileError(OVERRIDE_ORIGIN, key, value, `a key inside a table; ${part} is not a table`, 'cannot be set')
      at = at[part] as RawTable
    }
    at[parts[parts.length - 1]] = value
    merged.origins.set(key, OVERRIDE_ORIGIN)
  }
  return { table, origins: merged.origins, files: merged.files }
}

/** `actors.<name>.params.<knob>`: one knob of the actor entry named <name> (e.g. the mount's mount_point). */
function setActorParam(table: RawTable, key: string, parts: readonly string[], value: unknown): void {
  const actors = Array.isArray(table.actors) ? (table.actors as unknown[]).filter(isTable) : []
  if (parts.length !== 4 || parts[2] !== 'params') {
    throw profileError(OVERRIDE_ORIGIN, key, value, 'actors.<name>.params.<knob>, e.g. actors.fuse.params.mount_point', 'is not an overridable key')
  }
  const entry = actors.find((a) => a.name === parts[1])
  if (entry === undefined) {
    throw profileError(OVERRIDE_ORIGIN, key, value, `the name of an actor of this profile: ${actors.map((a) => String(a.name)).join(', ') || '(none)'}`, `names no actor ${JSON.stringify(parts[1])}`)
  }
  if (entry.params === undefined) entry.params = {}
  if (!isTable(entry.params)) throw profileError(OVERRIDE_ORIGIN, key, value, `a key inside a table; actor ${parts[1]}'s params is not a table`, 'cannot be set')
  ;(entry.params as RawTable)[parts[3]!] = value
}

/** Parses a profile from text (tests, `--config` strings); includes resolve against `file`'s directory. */
export function parseProfile(text: string, file: string): Profile {
  const absolute = resolve(file)
  const merged = mergeParsed(absolute, parseToml(text, absolute), [])
  return validateProfile(absolute, merged)
}

export function readMerged(file: string, stack: readonly string[] = []): MergedProfile {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO'
    const from = stack.length > 0 ? stack[stack.length - 1] : file
    throw profileError(from, stack.length > 0 ? 'include' : 'file', file, 'a readable TOML file', `is ${JSON.stringify(file)}, which cannot be read (${code})`)
  }
  return mergeParsed(file, parseToml(text, file), stack)
}

function parseToml(text: string, file: string): RawTable {
  try {
    return parse(text) as RawTable
  } catch (error) {
    if (error instanceof TomlError) {
      const firstLine = error.message.split('\n')[0]
      throw new T3fsError('ERR_PROFILE', `${file}:${error.line}:${error.column}: ${firstLine}`, {
        file,
        key: '',
        value: '',
        accepted: 'a TOML 1.0 document',
        line: error.line,
        column: error.column,
      })
    }
    throw error
  }
}

function mergeParsed(file: string, table: RawTable, stack: readonly string[]): MergedProfile {
  if (stack.includes(file)) {
    throw profileError(stack[stack.length - 1], 'include', file, 'a file that does not include itself (directly or through others)', `forms a cycle (${[...stack, file].join(' -> ')})`)
  }
  if (stack.length >= MAX_INCLUDE_DEPTH) {
    throw profileError(file, 'include', table.include, `at most ${MAX_INCLUDE_DEPTH} levels of include`, 'nests too deep')
  }
  const includes = includeList(file, table.include)
  let base: MergedProfile = { table: {}, origins: new Map(), files: [] }
  for (const included of includes) {
    const next = readMerged(resolve(dirname(file), included), [...stack, file])
    base = { table: mergeTables(base.table, next.table, base.origins, next.origins), origins: base.origins, files: [...base.files, ...next.files] }
  }
  const own: RawTable = { ...table }
  delete own.include
  const ownOrigins: Origins = new Map()
  recordOrigins(own, '', file, ownOrigins)
  const merged = mergeTables(base.table, own, base.origins, ownOrigins)
  return { table: merged, origins: base.origins, files: [...base.files, file] }
}

function includeList(file: string, value: unknown): string[] {
  if (value === undefined) return []
  if (typeof value === 'string' && value.length > 0) return [value]
  if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === 'string' && v.length > 0)) return value as string[]
  throw profileError(file, 'include', value, 'a non-empty path string or a list of them')
}

function isTable(value: unknown): value is RawTable {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
}

function recordOrigins(table: RawTable, prefix: string, file: string, origins: Origins): void {
  for (const [key, value] of Object.entries(table)) {
    const dotted = prefix ? `${prefix}.${key}` : key
    origins.set(dotted, file)
    if (isTable(value)) recordOrigins(value, dotted, file, origins)
  }
}

/** Merges `over` onto `base` (both left untouched); `baseOrigins` receives `overOrigins`' entries. */
function mergeTables(base: RawTable, over: RawTable, baseOrigins: Origins, overOrigins: Origins, prefix = ''): RawTable {
  const out: RawTable = { ...base }
  for (const [key, value] of Object.entries(over)) {
    const dotted = prefix ? `${prefix}.${key}` : key
    const previous = out[key]
    if (isTable(previous) && isTable(value)) {
      out[key] = mergeTables(previous, value, baseOrigins, overOrigins, dotted)
      baseOrigins.set(dotted, overOrigins.get(dotted) ?? baseOrigins.get(dotted) ?? '')
    } else {
      // Arrays and scalars replace; forget the base's origins below this key.
      for (const k of [...baseOrigins.keys()]) if (k.startsWith(`${dotted}.`) || k.startsWith(`${dotted}[`)) baseOrigins.delete(k)
      out[key] = value
      for (const [k, f] of overOrigins) if (k === dotted || k.startsWith(`${dotted}.`)) baseOrigins.set(k, f)
    }
  }
  return out
}
