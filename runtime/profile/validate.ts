/**
 * Validates a merged profile table against the knob table and builds the typed `Profile`.
 * Fails at the first problem with ERR_PROFILE naming file, key, value and what is accepted.
 */
import { dirname, isAbsolute, resolve } from 'node:path'
import { profileError } from './errors.ts'
import type { MergedProfile, RawTable } from './load.ts'
import type { ActorEntry, Address, BootstrapSettings, PeerEntry, Profile, TransportSettings } from './profile.ts'
import { ARRAYS, SECTIONS, TOP_LEVEL_KEYS, acceptedText, type Knob, type KnobSection } from './schema.ts'
import { parseDurationMs, parseSizeBytes } from './units.ts'
import { poolBytesMax, slotAlignmentBytes } from '../buffer-pool.ts'

export type Origins = Map<string, string>

type Values = Record<string, unknown>

class Checker {
  constructor(
    readonly file: string,
    readonly origins: Origins,
  ) {}

  /** The file that set `key` (or its nearest parent), else the top-level profile file. */
  originOf(key: string): string {
    let k = key
    for (;;) {
      const found = this.origins.get(k)
      if (found) return found
      const cut = Math.max(k.lastIndexOf('.'), k.lastIndexOf('['))
      if (cut <= 0) return this.file
      k = k.slice(0, cut)
    }
  }

  fail(key: string, value: unknown, accepted: string, problem?: string): never {
    throw profileError(this.originOf(key), key, value, accepted, problem)
  }

  section(prefix: string, raw: unknown, knobs: KnobSection): Values {
    if (raw === undefined) raw = {}
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) this.fail(prefix, raw, 'a table')
    const table = raw as RawTable
    for (const key of Object.keys(table)) {
      if (!(key in knobs)) {
        this.fail(`${prefix}.${key}`, table[key], `the keys of ${prefix}: ${Object.keys(knobs).join(', ')}`, 'is not a known key')
      }
    }
    const out: Values = {}
    for (const [key, knob] of Object.entries(knobs)) out[key] = this.knob(`${prefix}.${key}`, table[key], knob)
    return out
  }

  knob(key: string, value: unknown, knob: Knob): unknown {
    if (value === undefined) {
      if (knob.default !== undefined) value = knob.default
      else if (knob.optional) return undefined
      else this.fail(key, value, acceptedText(knob.type), `is missing (${knob.doc})`)
    }
    const type = knob.type
    const bad = (): never => this.fail(key, value, acceptedText(type))
    switch (type.kind) {
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < type.min || value > type.max) bad()
        return value
      case 'string':
        if (typeof value !== 'string' || value.length === 0 || value.length > type.maxLength) bad()
        if (type.pattern && !type.pattern.test(value as string)) bad()
        return value
      case 'bool':
        if (typeof value !== 'boolean') bad()
        return value
      case 'enum':
        if (typeof value !== 'string' || !type.values.includes(value)) bad()
        return value
      case 'duration': {
        const ms = typeof value === 'string' ? parseDurationMs(value) : undefined
        if (ms === undefined || ms < type.minMs || ms > type.maxMs) bad()
        return ms
      }
      case 'size': {
        const bytes = parseSizeBytes(value)
        if (bytes === undefined || bytes < type.min || bytes > type.max) bad()
        return bytes
      }
      case 'address':
        return parseAddress(value) ?? bad()
      case 'int-list': {
        if (!Array.isArray(value) || value.length < type.minItems || value.length > type.maxItems) bad()
        const list = value as unknown[]
        if (new Set(list).size !== list.length) bad()
        for (const item of list) if (typeof item !== 'number' || !Number.isInteger(item) || item < type.min || item > type.max) bad()
        return list
      }
      case 'table':
        if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Date) bad()
        return value
    }
  }

  array(name: string, raw: unknown): Values[] {
    const spec = ARRAYS[name]
    if (raw === undefined) return []
    if (!Array.isArray(raw) || raw.length > spec.maxItems) {
      this.fail(name, raw, `an array of tables ([[${name}]]) with at most ${spec.maxItems} entries`)
    }
    return (raw as unknown[]).map((item, index) => this.section(`${name}[${index}]`, item, spec.item))
  }
}

const ADDRESS = /^(?:(?:TCP|tcp|RDMA|rdma):\/\/)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/

export function parseAddress(value: unknown): Address | undefined {
  if (typeof value !== 'string') return undefined
  const match = ADDRESS.exec(value)
  if (!match) return undefined
  const port = Number(match[2])
  if (port > 65_535) return undefined
  const host = match[1].startsWith('[') ? match[1].slice(1, -1) : match[1]
  return { host, port }
}

export function validateProfile(file: string, merged: MergedProfile): Profile {
  const check = new Checker(file, merged.origins)
  const top = merged.table
  for (const key of Object.keys(top)) {
    if (!(key in SECTIONS) && !(key in ARRAYS) && !(key in TOP_LEVEL_KEYS)) {
      const known = [...Object.keys(SECTIONS).map((s) => `[${s}]`), ...Object.keys(ARRAYS).map((a) => `[[${a}]]`), 'include']
      check.fail(key, top[key], `the top-level keys ${known.join(', ')}`, 'is not a known key')
    }
  }
  const s: Record<string, Values> = {}
  for (const [name, knobs] of Object.entries(SECTIONS)) s[name] = check.section(name, top[name], knobs)

  const root = resolve(dirname(check.originOf('node.root')), s.node.root as string)
  const inRoot = (p: string): string => (isAbsolute(p) ? p : resolve(root, p))
  const transport = transportSettings(check, s.transport)
  if (s.kv.backend === 'fdb' && s.kv.cluster_file === undefined) {
    check.fail('kv.cluster_file', undefined, 'a path to the FoundationDB cluster file when kv.backend is "fdb"', 'is missing')
  }
  const numaDomains = s.placement.numa_domains as number[]
  const hostsPerDomain = s.placement.hosts_per_domain as number
  return {
    file,
    files: merged.files,
    node: { id: s.node.id as number, clusterId: s.node.cluster_id as string, root },
    listen: { tcp: s.listen.tcp as Address, ...(s.listen.rdma ? { rdma: s.listen.rdma as Address } : {}) },
    placement: { numaDomains, hostsPerDomain },
    kv: {
      backend: s.kv.backend as Profile['kv']['backend'],
      path: inRoot(s.kv.path as string),
      ...(s.kv.cluster_file !== undefined ? { clusterFile: inRoot(s.kv.cluster_file as string) } : {}),
    },
    transport,
    disk: s.disk.root === undefined ? null : { root: inRoot(s.disk.root as string) },
    bufferPool: bufferPoolClasses(check, top.buffer_pool),
    log: { level: s.log.level as Profile['log']['level'] },
    ...httpListeners(check, s, s.node.id as number, s.listen.tcp as Address),
    shutdown: { gracePeriodMs: s.shutdown.grace_period as number },
    peers: peerTable(check, top.peers),
    actors: actorList(check, top.actors, numaDomains.length, hostsPerDomain, inRoot),
    launch: check.array('launch', top.launch).map((l, i) => ({ profile: besideOrigin(check, `launch[${i}].profile`, l.profile as string) })),
    bootstrap: bootstrapSettings(check, s.bootstrap),
  }
}

/** A path relative to the file that set `key`. */
function besideOrigin(check: Checker, key: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(check.originOf(key)), path)
}

function bootstrapSettings(check: Checker, b: Values): BootstrapSettings | null {
  if (b.chains === undefined && b.chain_table === undefined) return null
  if (b.chains === undefined || b.chain_table === undefined) {
    const missing = b.chains === undefined ? 'bootstrap.chains' : 'bootstrap.chain_table'
    check.fail(missing, undefined, 'a CSV path: bootstrap needs both chains and chain_table', 'is missing')
  }
  // The root directory's chunk size (meta) and init-cluster's (mgmtd): both take only powers of 2.
  const chunk = b.chunk_size as number
  if ((chunk & (chunk - 1)) !== 0) check.fail('bootstrap.chunk_size', b.chunk_size, 'a power of 2 from 64KiB to 64MiB (e.g. "1MiB", "4MiB")', `is ${chunk} bytes, not a power of 2`)
  return {
    chains: besideOrigin(check, 'bootstrap.chains', b.chains as string),
    chainTable: besideOrigin(check, 'bootstrap.chain_table', b.chain_table as string),
    tableId: b.table_id as number,
    chunkSizeBytes: b.chunk_size as number,
    stripeSize: (b.stripe_size as number | undefined) ?? null,
    waitServingMs: b.wait_serving as number,
  }
}

/** [metrics] and [dashboard]: each on a port of its own, apart from the node's TCP listener. */
function httpListeners(check: Checker, s: Record<string, Values>, nodeId: number, tcp: Address): Pick<Profile, 'metrics' | 'dashboard'> {
  const metrics = s.metrics.enabled === true ? { listen: s.metrics.listen as Address } : null
  const dashboard = s.dashboard.enabled === true
    ? {
        listen: s.dashboard.listen as Address,
        mgmtdNode: (s.dashboard.mgmtd_node as number | undefined) ?? nodeId,
        refreshIntervalMs: s.dashboard.refresh_interval as number,
        historyMs: s.dashboard.history as number,
      }
    : null
  const taken = new Map<number, string>([[tcp.port, 'listen.tcp']])
  for (const [key, listener] of [['metrics.listen', metrics], ['dashboard.listen', dashboard]] as const) {
    if (listener === null || listener.listen.port === 0) continue
    const other = taken.get(listener.listen.port)
    if (other !== undefined) check.fail(key, `${listener.listen.host}:${listener.listen.port}`, `a port other than ${other}'s (${listener.listen.port}), or 0 for any free port`, 'uses a port already taken')
    taken.set(listener.listen.port, key)
  }
  if (dashboard !== null && dashboard.historyMs < dashboard.refreshIntervalMs) {
    check.fail('dashboard.history', s.dashboard.history, `at least dashboard.refresh_interval (${dashboard.refreshIntervalMs}ms)`, `is ${dashboard.historyMs}ms`)
  }
  return { metrics, dashboard }
}

/** [transport] in camelCase, with the rules that tie its keys together. */
function transportSettings(check: Checker, t: Values): TransportSettings {
  const transport: TransportSettings = {
    kind: t.kind as TransportSettings['kind'],
    heartbeatIntervalMs: t.heartbeat_interval as number,
    heartbeatTimeoutMs: t.heartbeat_timeout as number,
    reconnectMinMs: t.reconnect_min as number,
    reconnectMaxMs: t.reconnect_max as number,
    maxFrameBytes: t.max_frame_size as number,
    highWaterBytes: t.high_water as number,
    maxPendingOps: t.max_pending_ops as number,
    opTimeoutMs: t.op_timeout as number,
    maxRegions: t.max_regions as number,
    sameHostCopy: t.same_host_copy as boolean,
  }
  // Each cross-field rule names the key it rejects and the key it depends on.
  if (transport.heartbeatTimeoutMs < 2 * transport.heartbeatIntervalMs) {
    check.fail('transport.heartbeat_timeout', t.heartbeat_timeout, `at least twice transport.heartbeat_interval (${transport.heartbeatIntervalMs}ms)`, `is ${transport.heartbeatTimeoutMs}ms`)
  }
  if (transport.reconnectMaxMs < transport.reconnectMinMs) {
    check.fail('transport.reconnect_max', t.reconnect_max, `at least transport.reconnect_min (${transport.reconnectMinMs}ms)`, `is ${transport.reconnectMaxMs}ms`)
  }
  return transport
}

/** [[buffer_pool]]: classes grow strictly, slots are 4 KiB multiples, the whole fits the runtime's bound. */
function bufferPoolClasses(check: Checker, raw: unknown): { slotBytes: number; slots: number }[] {
  let previous = 0
  let total = 0
  return check.array('buffer_pool', raw).map((c, i) => {
    const slotBytes = c.slot_size as number
    const slots = c.slots as number
    if (slotBytes % slotAlignmentBytes !== 0 || slotBytes <= previous) {
      check.fail(`buffer_pool[${i}].slot_size`, slotBytes, `a multiple of 4KiB larger than the class before it (${previous} bytes)`, `is ${slotBytes} bytes`)
    }
    previous = slotBytes
    total += slotBytes * slots
    if (total > poolBytesMax) check.fail(`buffer_pool[${i}].slots`, slots, `a pool of at most ${poolBytesMax} bytes in all`, `brings it to ${total} bytes`)
    return { slotBytes, slots }
  })
}

function peerTable(check: Checker, raw: unknown): PeerEntry[] {
  const seen = new Set<number>()
  return check.array('peers', raw).map((p, i) => {
    const node = p.node as number
    if (seen.has(node)) check.fail(`peers[${i}].node`, node, 'a node id not listed before in peers', 'is listed twice')
    seen.add(node)
    return { node, address: p.address as Address }
  })
}

function actorList(check: Checker, raw: unknown, domains: number, hostsPerDomain: number, inRoot: (p: string) => string): ActorEntry[] {
  const hosts = domains * hostsPerDomain
  const seen = new Set<string>()
  return check.array('actors', raw).map((a, i) => {
    const name = a.name as string
    if (seen.has(name)) check.fail(`actors[${i}].name`, name, 'a name not used by another actor of this node', 'is used twice')
    seen.add(name)
    const host = a.host as number
    if (host > hosts) check.fail(`actors[${i}].host`, host, `0 (the main thread) or a worker host from 1 to ${hosts} (${domains} domain(s) × ${hostsPerDomain} host(s) per domain)`)
    return { name, module: inRoot(a.module as string), export: a.export as string, host, params: a.params as Record<string, unknown> }
  })
}
