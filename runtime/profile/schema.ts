/**
 * The node-profile knob table: every key a profile may hold, with its type, default, range and
 * a one-line doc. Validation (validate.ts), defaults and `--dry-run` output all read this table,
 * so a knob is declared exactly once.
 *
 * Keys are snake_case as in 3FS's TOML files; the resolved `Profile` (profile.ts) is camelCase.
 */
import { DURATION_ACCEPTED, SIZE_ACCEPTED, formatDurationMs, formatSizeBytes } from './units.ts'

export type KnobType =
  | { readonly kind: 'int'; readonly min: number; readonly max: number }
  | { readonly kind: 'string'; readonly pattern?: RegExp; readonly patternDoc?: string; readonly maxLength: number }
  | { readonly kind: 'bool' }
  | { readonly kind: 'enum'; readonly values: readonly string[] }
  | { readonly kind: 'duration'; readonly minMs: number; readonly maxMs: number }
  | { readonly kind: 'size'; readonly min: number; readonly max: number }
  | { readonly kind: 'address' }
  | { readonly kind: 'int-list'; readonly min: number; readonly max: number; readonly minItems: number; readonly maxItems: number }
  | { readonly kind: 'table' }

export interface Knob {
  readonly type: KnobType
  /** TOML-level default (before unit parsing); absent means the key is required. */
  readonly default?: unknown
  /** Optional keys without a default stay undefined in the resolved profile. */
  readonly optional?: boolean
  readonly doc: string
}

export type KnobSection = Readonly<Record<string, Knob>>

/** The runtime packs node ids into actor addresses as 16-bit values. */
export const MAX_NODE_ID = 0xffff
export const MAX_HOSTS_PER_DOMAIN = 64
export const MAX_ACTORS_PER_PROFILE = 4096
export const MAX_PEERS_PER_PROFILE = 4096
export const MAX_INCLUDE_DEPTH = 8

const int = (min: number, max: number): KnobType => ({ kind: 'int', min, max })
const duration = (minMs: number, maxMs: number): KnobType => ({ kind: 'duration', minMs, maxMs })
const size = (min: number, max: number): KnobType => ({ kind: 'size', min, max })
const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB

/** Plain `[section]` tables. */
export const SECTIONS: Readonly<Record<string, KnobSection>> = {
  node: {
    id: { type: int(1, MAX_NODE_ID), doc: 'node id, unique in the cluster (3FS: mgmtd 1…, meta 100…, storage 10001…)' },
    cluster_id: { type: { kind: 'string', maxLength: 64, pattern: /^[A-Za-z0-9._-]+$/, patternDoc: 'letters, digits, ".", "_", "-"' }, default: 't3fs', doc: 'cluster name; nodes of different clusters refuse each other' },
    root: { type: { kind: 'string', maxLength: 4096 }, default: '.', doc: 'directory that relative paths (kv.path, actor modules) resolve against; itself relative to the file that sets it' },
  },
  listen: {
    tcp: { type: { kind: 'address' }, doc: 'TCP listen address "host:port" (or "TCP://host:port")' },
    rdma: { type: { kind: 'address' }, optional: true, doc: 'RDMA listen address, used when the rdma transport is selected' },
  },
  placement: {
    numa_domains: { type: { kind: 'int-list', min: 0, max: 1023, minItems: 1, maxItems: 64 }, default: [0], doc: 'NUMA node ids this process places worker hosts on' },
    hosts_per_domain: { type: int(1, MAX_HOSTS_PER_DOMAIN), default: 1, doc: 'worker hosts (threads) per NUMA domain' },
  },
  // The node's one KV: `t3fs launch` hands these settings (path resolved) to every actor whose
  // definition declares needs: ['kv'] (mgmtd, later meta); actors take no KV params of their own.
  kv: {
    backend: { type: { kind: 'enum', values: ['lmdb', 'memory', 'fdb'] }, default: 'lmdb', doc: 'the node\'s KV backend, handed to every actor that needs one: embedded lmdb, in-memory (tests; private to each actor), FoundationDB' },
    path: { type: { kind: 'string', maxLength: 4096 }, default: 'var/kv', doc: 'data directory of the lmdb backend, relative to node.root; the node\'s actors share it' },
    cluster_file: { type: { kind: 'string', maxLength: 4096 }, optional: true, doc: 'fdb cluster file (backend "fdb" only)' },
  },
  transport: {
    kind: { type: { kind: 'enum', values: ['auto', 'tcp', 'rdma'] }, default: 'auto', doc: 'network transport; auto picks rdma where a device exists, else tcp' },
    heartbeat_interval: { type: duration(10, 60_000), default: '1s', doc: 'a heartbeat is sent to every connected peer this often' },
    heartbeat_timeout: { type: duration(20, 600_000), default: '5s', doc: 'a peer silent this long (or unreachable this long) is declared down' },
    reconnect_min: { type: duration(1, 60_000), default: '50ms', doc: 'first reconnect delay; doubles per failure' },
    reconnect_max: { type: duration(1, 600_000), default: '2s', doc: 'largest reconnect delay' },
    max_frame_size: { type: size(64 * KiB, 1 * GiB), default: '65MiB', doc: 'largest frame (head, envelopes and payloads) sent or accepted: a 64 MiB chunk and 1 MiB for its envelopes by default; a larger message is refused to its sender' },
    high_water: { type: size(64 * KiB, 4 * GiB), default: '16MiB', doc: 'queued bytes per peer above which send() returns false' },
    max_pending_ops: { type: int(1, 1 << 20), default: 1024, doc: 'one-sided reads/writes in flight per transport' },
    op_timeout: { type: duration(10, 600_000), default: '30s', doc: 'a one-sided read/write not answered in this time fails' },
    max_regions: { type: int(1, 1 << 20), default: 4096, doc: 'registered buffer regions per transport' },
    same_host_copy: { type: { kind: 'bool' }, default: true, doc: 'one-sided reads/writes with a node on this machine are one direct copy between the processes (process_vm_readv) instead of bytes through the socket; used only where the handshake shows this process may read the other' },
  },
  disk: {
    root: { type: { kind: 'string', maxLength: 4096 }, optional: true, doc: 'directory the node\'s actors get as ctx.disk (io_uring, O_DIRECT-capable), relative to node.root; absent: no disk (nodes without storage)' },
  },
  // Off unless a profile turns them on (configs/dev.toml does): each is an HTTP listener of the node.
  metrics: {
    enabled: { type: { kind: 'bool' }, default: false, doc: 'serve GET /metrics (Prometheus text format: actors, router and transport, disk, buffer pool, and what the actors register)' },
    listen: { type: { kind: 'address' }, default: '127.0.0.1:9100', doc: 'HTTP address of /metrics "host:port" (port 0: any free port, logged at start)' },
  },
  dashboard: {
    enabled: { type: { kind: 'bool' }, default: false, doc: 'serve the live cluster dashboard (a web page: nodes, chains, targets, throughput and latency graphs)' },
    listen: { type: { kind: 'address' }, default: '127.0.0.1:9180', doc: 'HTTP address of the dashboard "host:port" (port 0: any free port, logged at start)' },
    mgmtd_node: { type: int(1, MAX_NODE_ID), optional: true, doc: 'node whose mgmtd the dashboard asks for nodes, chains and targets; default: this node' },
    refresh_interval: { type: duration(100, 60_000), default: '1s', doc: 'how often the dashboard samples the metrics and mgmtd (and the page polls)' },
    history: { type: duration(1_000, 24 * 3_600_000), default: '5min', doc: 'how far back the graphs reach (at most 3600 samples are kept)' },
  },
  log: {
    level: { type: { kind: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] }, default: 'info', doc: 'pino log level (logs go to stderr)' },
  },
  // The dev cluster's first start (`npm start`): what the launcher sets up in mgmtd when it is not
  // set up yet (3FS's init-cluster, upload-chains and upload-chain-table, done by hand elsewhere).
  bootstrap: {
    chains: { type: { kind: 'string', maxLength: 4096 }, optional: true, doc: 'chains CSV (ChainId,TargetId,… as for `t3fs admin upload-chains`), relative to this file; absent: no bootstrap' },
    chain_table: { type: { kind: 'string', maxLength: 4096 }, optional: true, doc: 'chain table CSV (ChainId per line, as for `t3fs admin upload-chain-table`), relative to this file' },
    table_id: { type: int(1, 0xffff), default: 1, doc: 'chain table id new files use' },
    chunk_size: { type: size(64 * KiB, 64 * MiB), default: '1MiB', doc: 'chunk size of the cluster\'s files (init-cluster records it; this node\'s meta servers give the root directory this layout unless their root_layout says otherwise)' },
    stripe_size: { type: int(1, 4096), optional: true, doc: 'chains a file stripes over (default: every chain of the table)' },
    wait_serving: { type: duration(0, 600_000), default: '60s', doc: 'how long the launcher waits for every chain to be SERVING before it says the cluster is ready' },
  },
  shutdown: {
    grace_period: { type: duration(0, 600_000), default: '10s', doc: 'on SIGINT/SIGTERM, mailboxes may drain this long before the node stops anyway' },
  },
}

/** `[[array]]` tables: each element is validated against its section. */
export const ARRAYS: Readonly<Record<string, { readonly item: KnobSection; readonly maxItems: number; readonly doc: string }>> = {
  buffer_pool: {
    maxItems: 16,
    doc: 'size classes of the node\'s shared buffer pool (chunk data, O_DIRECT I/O, payloads between nodes), smallest first; absent: 64 × 64KiB and 32 × 1MiB. The pool is slot_size × slots summed, allocated once at start',
    item: {
      slot_size: { type: size(4 * KiB, 1 * GiB), doc: 'bytes per slot: a multiple of 4KiB, larger than the class before' },
      slots: { type: int(1, 1 << 20), doc: 'slots in this class' },
    },
  },
  peers: {
    maxItems: MAX_PEERS_PER_PROFILE,
    doc: 'the cluster table: every node this one may talk to (usually kept in the shared base file)',
    item: {
      node: { type: int(1, MAX_NODE_ID), doc: 'peer node id' },
      address: { type: { kind: 'address' }, doc: 'peer TCP address "host:port"' },
    },
  },
  launch: {
    maxItems: 64,
    doc: 'other nodes this one starts as child processes (each from its own profile) and stops when it stops: a whole cluster from one command (npm start)',
    item: {
      profile: { type: { kind: 'string', maxLength: 4096 }, doc: 'the child node\'s profile, relative to the file that lists it' },
    },
  },
  actors: {
    maxItems: MAX_ACTORS_PER_PROFILE,
    doc: 'actors this node starts at launch',
    item: {
      name: { type: { kind: 'string', maxLength: 128, pattern: /^[A-Za-z0-9._-]+$/, patternDoc: 'letters, digits, ".", "_", "-"' }, doc: 'actor name, unique on the node' },
      module: { type: { kind: 'string', maxLength: 4096 }, doc: 'module that defines the actor, relative to node.root (e.g. "actors/mgmtd/mgmtd.ts")' },
      export: { type: { kind: 'string', maxLength: 128, pattern: /^[A-Za-z_$][A-Za-z0-9_$]*$/, patternDoc: 'a JavaScript identifier' }, doc: 'name of the exported actor definition' },
      host: { type: int(0, 64 * MAX_HOSTS_PER_DOMAIN), default: 1, doc: 'host that runs the actor: a worker host 1…domains × hosts_per_domain, domain by domain, or 0, the main thread (it runs the launcher and owns the network transport: an actor that mostly talks to other nodes saves two thread hops per message there)' },
      params: { type: { kind: 'table' }, default: {}, doc: 'parameters handed to the actor at spawn (validated by the actor); node services such as the KV come from their own sections ([kv]), not from here' },
    },
  },
}

/** Top-level scalar keys. */
export const TOP_LEVEL_KEYS: Readonly<Record<string, string>> = {
  include: 'a path (or list of paths) of base profiles merged under this one, relative to this file',
}

/** Human text of what a knob accepts, used in every error message. */
export function acceptedText(type: KnobType): string {
  switch (type.kind) {
    case 'int':
      return `an integer from ${type.min} to ${type.max}`
    case 'string':
      return `a string of 1 to ${type.maxLength} characters${type.patternDoc ? ` (${type.patternDoc})` : ''}`
    case 'bool':
      return 'true or false'
    case 'enum':
      return `one of ${type.values.map((v) => JSON.stringify(v)).join(', ')}`
    case 'duration':
      return `${DURATION_ACCEPTED}, from ${formatDurationMs(type.minMs)} to ${formatDurationMs(type.maxMs)}`
    case 'size':
      return `${SIZE_ACCEPTED}, from ${formatSizeBytes(type.min)} to ${formatSizeBytes(type.max)}`
    case 'address':
      return 'an address "host:port" or "TCP://host:port" with port 0 to 65535'
    case 'int-list':
      return `a list of ${type.minItems} to ${type.maxItems} distinct integers from ${type.min} to ${type.max}`
    case 'table':
      return 'a table'
  }
}
