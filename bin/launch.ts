/**
 * `t3fs launch [--dry-run] [--json] <profile.toml>`: starts a node process from its profile.
 *
 * Order: profile → transport choice → worker hosts per NUMA domain, router and listener
 * (NodeRuntime, handed the transport) → the profile's actors, each with its params plus the node
 * services its definition declares (actor-args.ts: the profile's [kv] for `needs: ['kv']`). SIGINT/SIGTERM stop it: actors get
 * the profile's grace period to drain, the workers end, the transport closes (peers see the node
 * down at once), the log is flushed.
 * A second signal during shutdown exits at once with code 1.
 */
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import type pino from 'pino'
import { NodeRuntime, readTopology, type NumaDomain } from '../runtime/index.ts'
import { isT3fsError, T3fsError, toT3fsError } from '../runtime/errors.ts'
import { loadProfile, parseOverrideValue, type Profile } from '../runtime/profile/index.ts'
import { createTransport, selectTransport } from '../runtime/transport/index.ts'
import type { Io } from './cli.ts'
import { declaredNeeds, spawnArgs } from './actor-args.ts'
import { buildPlan, formatPlan } from './plan.ts'
import { serveMetrics, type HttpListener } from '../runtime/metrics/metrics-server.ts'
import { startDashboard } from './dashboard/dashboard-server.ts'
import { bootstrapCluster, bootstrapLayout, detachLeftovers, mountStatuses, startChildren, stopChildren, Stopping, unmountAll, watchParent, type ChildNode } from './cluster.ts'
import { createNodeLogger, LOG_LEVELS, logFormatFor, resolveLogLevel, runtimeLogger, runtimeLogLevel } from './logging.ts'

const HELP = `usage: t3fs launch [--dry-run] [--json] [--log-level <level>] [--config.<key>=<value> ...] <profile.toml>

Starts a node from its TOML profile (see configs/dev.toml; keys in runtime/profile/schema.ts).
Logs go to stderr: readable lines on a terminal, else JSON lines (pino). SIGINT/SIGTERM shut the
node down cleanly.

options:
  --dry-run   load and validate the profile, print the resolved plan, start nothing
  --json      with --dry-run: print the plan as JSON
  --log-level <level>
              ${LOG_LEVELS.join(', ')}; beats $T3FS_LOG_LEVEL, which beats the profile's log.level
  --config.<key>=<value>
              override one profile key after all files, as 3FS does
              (e.g. --config.node.id=2 --config.listen.tcp=127.0.0.1:9001)
  -h, --help  show this help
`

/** Splits off 3FS-style `--config.a.b=value` overrides, which parseArgs cannot declare. */
export function splitOverrides(args: readonly string[]): { rest: string[]; overrides: Record<string, unknown>; bad: string | null } {
  const rest: string[] = []
  const overrides: Record<string, unknown> = {}
  for (const arg of args) {
    if (!arg.startsWith('--config.')) {
      rest.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    if (eq < 0) return { rest, overrides, bad: arg }
    overrides[arg.slice('--config.'.length, eq)] = parseOverrideValue(arg.slice(eq + 1))
  }
  return { rest, overrides, bad: null }
}

export async function launchCommand(argv: string[], io: Io): Promise<number> {
  const { rest: args, overrides, bad } = splitOverrides(argv)
  if (bad !== null) {
    io.stderr.write(`t3fs launch: ${bad} needs a value: --config.<key>=<value>\n\n${HELP}`)
    return 2
  }
  let parsed
  try {
    parsed = parseArgs({
      args,
      options: { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (error) {
    io.stderr.write(`t3fs launch: ${(error as Error).message}\n\n${HELP}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(HELP)
    return 0
  }
  if (positionals.length !== 1) {
    io.stderr.write(`t3fs launch: expected one profile file, got ${positionals.length}\n\n${HELP}`)
    return 2
  }
  let profile: Profile
  try {
    profile = loadProfile(positionals[0], overrides)
  } catch (error) {
    io.stderr.write(`t3fs launch: ${isT3fsError(error) ? error.message : String(error)}\n`)
    return 1
  }
  try {
    profile = { ...profile, log: { level: resolveLogLevel(values['log-level'], process.env.T3FS_LOG_LEVEL, profile.log.level).level } }
  } catch (error) {
    io.stderr.write(`t3fs launch: ${(error as Error).message}\n\n${HELP}`)
    return 2
  }
  if (values['dry-run']) {
    let choice
    try {
      choice = selectTransport(profile.transport.kind)
    } catch (error) {
      io.stderr.write(`t3fs launch: ${(error as Error).message}\n`)
      return 1
    }
    const plan = buildPlan(profile, choice)
    io.stdout.write(values.json ? `${JSON.stringify(plan)}\n` : formatPlan(plan, profile))
    return 0
  }
  if (values.json) {
    io.stderr.write('t3fs launch: --json only applies with --dry-run\n')
    return 2
  }
  return runNode(profile, io)
}

function domainsFor(profile: Profile): NumaDomain[] {
  const topology = readTopology()
  return profile.placement.numaDomains.map((id) => {
    const domain = topology.find((d) => d.id === id)
    if (!domain) {
      throw new T3fsError('ERR_PROFILE', `${profile.file}: placement.numa_domains lists ${id}, but this machine has NUMA domain(s) ${topology.map((d) => d.id).join(', ')}; accepted: ids of this machine's domains`, {
        file: profile.file,
        key: 'placement.numa_domains',
        value: String(id),
        accepted: topology.map((d) => d.id).join(', '),
      })
    }
    return domain
  })
}

async function runNode(profile: Profile, io: Io): Promise<number> {
  const log = createNodeLogger({ level: profile.log.level, node: profile.node.id, format: logFormatFor(2) })
  let runtime: NodeRuntime | null = null
  let transport: ReturnType<typeof createTransport>['transport'] | null = null
  const listeners: HttpListener[] = []
  let children: ChildNode[] = []
  const mountPoints: string[] = []
  const stopping = waitForSignal(log)
  try {
    const { transport: t, choice } = createTransport(profile, { log: log.child({ component: 'transport' }) })
    transport = t
    log.info({ evt: 'TransportSelected', kind: choice.kind, reason: choice.reason, requested: profile.transport.kind }, `transport ${choice.kind}: ${choice.reason}`)
    transport.onPeerState((node, state) => log.info({ evt: state === 'up' ? 'NodeUp' : 'NodeDown', peer: node }))
    // The runtime routes frames between the transport and its actors, and starts the listener.
    runtime = await NodeRuntime.start({
      node: profile.node.id,
      hostsPerDomain: profile.placement.hostsPerDomain,
      domains: domainsFor(profile),
      log: runtimeLogger(log.child({ component: 'runtime' })),
      logLevel: runtimeLogLevel(profile.log.level),
      transport,
      ...(profile.bufferPool.length > 0 ? { bufferPool: { classes: profile.bufferPool } } : {}),
      ...(profile.disk === null ? {} : { disk: profile.disk }),
    })
    await spawnActors(profile, runtime, log)
    listeners.push(...await startHttpListeners(profile, runtime, log))
    log.info({ evt: 'NodeStarted', listen: `${profile.listen.tcp.host}:${(transport as { port?: number }).port ?? profile.listen.tcp.port}`, hosts: runtime.hostIds, actors: profile.actors.length }, `node ${profile.node.id} started`)
    children = startChildren(profile, profile.log.level, log)
    const ready = new AbortController()
    void whenReady(runtime, profile, mountPoints, log, ready.signal)
    const signal = await stopping.promise
    ready.abort()
    log.info({ evt: 'NodeStopping', signal, graceMs: profile.shutdown.gracePeriodMs })
    // The mounts go first (they flush to storage), then this node, then the nodes it launched.
    const points = await unmountAll(runtime, profile, mountPoints, log)
    await shutdown(profile, runtime, transport, listeners)
    await stopChildren(children, profile.shutdown.gracePeriodMs)
    await detachLeftovers(points, log)
    log.info({ evt: 'NodeStopped' })
    return 0
  } catch (error) {
    const e = toT3fsError(error)
    log.error({ evt: 'NodeFailed', code: e.code, err: e.message })
    io.stderr.write(`t3fs launch: ${e.message}\n`)
    await shutdown(profile, runtime, transport, listeners).catch(() => {})
    await stopChildren(children, profile.shutdown.gracePeriodMs).catch(() => {})
    await detachLeftovers(mountPoints, log).catch(() => {})
    return 1
  } finally {
    stopping.dispose()
    await new Promise<void>((resolve) => log.flush(() => resolve()))
  }
}

/** /metrics and the dashboard, as the profile asks (both off by default). */
async function startHttpListeners(profile: Profile, runtime: NodeRuntime, log: pino.Logger): Promise<HttpListener[]> {
  const started: HttpListener[] = []
  try {
    if (profile.metrics !== null) {
      const { host, port } = profile.metrics.listen
      const listener = await serveMetrics({ host, port, gather: () => runtime.metricsText() })
      started.push(listener)
      log.info({ evt: 'MetricsListening', url: `http://${host}:${listener.port}/metrics` }, `metrics at http://${host}:${listener.port}/metrics`)
    }
    if (profile.dashboard !== null) {
      const listener = await startDashboard({ runtime, settings: profile.dashboard, clusterId: profile.node.clusterId, log: log.child({ component: 'dashboard' }) })
      started.push(listener)
      const { host } = profile.dashboard.listen
      log.info({ evt: 'DashboardListening', url: `http://${host}:${listener.port}/` }, `dashboard at http://${host}:${listener.port}/`)
    }
    return started
  } catch (error) {
    await Promise.all(started.map((l) => l.close()))
    throw error
  }
}

async function spawnActors(profile: Profile, runtime: NodeRuntime, log: pino.Logger): Promise<void> {
  const layout = await bootstrapLayout(profile)
  for (const actor of profile.actors) {
    const definition = { module: pathToFileURL(actor.module).href, export: actor.export }
    try {
      const args = spawnArgs(profile, actor, await declaredNeeds(actor), layout)
      await runtime.spawn(definition, args, { host: actor.host, name: actor.name })
    } catch (error) {
      const e = toT3fsError(error)
      throw new T3fsError(e.code, `${profile.file}: actor ${actor.name} (${actor.export} from ${actor.module}) did not start: ${e.message}`, { actor: actor.name, ...e.details })
    }
    log.info({ evt: 'ActorStarted', actor: actor.name, host: actor.host, module: actor.module })
  }
}

/** Bootstraps the cluster (when the profile says so), then says where its mounts are. */
async function whenReady(runtime: NodeRuntime, profile: Profile, mountPoints: string[], log: pino.Logger, stop: AbortSignal): Promise<void> {
  try {
    await bootstrapCluster(runtime, profile, log, stop)
    const mounts = await mountStatuses(runtime, profile)
    if (stop.aborted) return
    for (const m of mounts) {
      mountPoints.push(m.mountPoint)
      if (m.mounted) log.info({ evt: 'ClusterReady', mountPoint: m.mountPoint }, `ready: t3fs is mounted at ${m.mountPoint} (try \`ls ${m.mountPoint}\`; Ctrl-C unmounts and stops)`)
      else log.warn({ evt: 'ClusterReadyNotMounted', mountPoint: m.mountPoint, reason: m.reason }, `ready, but ${m.mountPoint} is not mounted: ${m.reason ?? 'unknown reason'}`)
    }
  } catch (error) {
    if (error instanceof Stopping || stop.aborted) return
    const e = toT3fsError(error)
    log.error({ evt: 'ClusterNotReady', code: e.code, err: e.message }, `the cluster did not come up: ${e.message}`)
  }
}

/** The listeners close, the runtime drains its actors for the grace period, then the transport it was given closes. */
async function shutdown(profile: Profile, runtime: NodeRuntime | null, transport: { close(): Promise<void> } | null, listeners: HttpListener[] = []): Promise<void> {
  await Promise.all(listeners.splice(0).map((l) => l.close()))
  if (runtime) await runtime.shutdown(profile.shutdown.gracePeriodMs)
  await transport?.close()
}

function waitForSignal(log: pino.Logger): { promise: Promise<string>; dispose(): void } {
  let seen = false
  let resolve: (signal: string) => void = () => {}
  const promise = new Promise<string>((r) => (resolve = r))
  const onSignal = (signal: NodeJS.Signals): void => {
    if (seen) {
      log.warn({ evt: 'NodeForcedExit', signal })
      log.flush()
      process.exit(1)
    }
    seen = true
    resolve(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // A node launched by another (npm start's storage nodes) stops with it, even when it was killed.
  const unwatch = watchParent(() => onSignal('SIGTERM'))
  return {
    promise,
    dispose: () => {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      unwatch()
    },
  }
}
