/**
 * Machines on one machine: a network namespace per node, each joined by a veth link to a bridge
 * in a hub namespace, on a private /24 of 198.18.0.0/15 (the benchmarking range, RFC 2544, so no
 * real network is shadowed). This process joins the hub too, by a veth of its own in the root
 * namespace, so it reaches every node as a client machine would.
 *
 *   root ns: t3c<pid> 198.18.x.250 ──┐
 *   hub ns:  br0 ── p0 ── p1 ── …    │ (one port per node, plus `client`)
 *   node ns: eth0 198.18.x.10+i ─────┘
 *
 * Cutting a node's link sets its port on the bridge down (a cable pulled at the switch: the node
 * keeps running, its packets go nowhere, no RST reaches anyone). Every name carries this
 * process's pid, so parallel runs do not collide; `destroy` kills what runs in the namespaces
 * and removes them with their links, and a new lab first removes what a dead run left behind.
 * Needs root and iproute2 (`ip`); `netnsSkipReason` says why not.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

const PREFIX = 't3fs-'
/** Namespaces and links of a run whose process no longer exists. */
const OWNED_NS = /^t3fs-(\d+)-/
const OWNED_LINK = /^t3c(\d+)$/
const CLIENT_HOST = 250
const FIRST_NODE_HOST = 10
/** /24s this range offers (198.18.0.0/15). */
const SUBNETS = 512
/** How long a removed namespace's links may take to vanish (the kernel cleans up asynchronously). */
const CLEANUP_WAIT_MS = 10_000

function ip(args: readonly string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
}

function tryIp(args: readonly string[]): boolean {
  try {
    ip(args)
    return true
  } catch {
    return false
  }
}

/** Null when namespaces can be made here (tried for real), else why not. */
export function netnsSkipReason(): string | null {
  if (process.platform !== 'linux') return `network namespaces are Linux only (platform ${process.platform})`
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  const probe = `${PREFIX}${process.pid}-probe`
  try {
    ip(['netns', 'add', probe])
  } catch (error) {
    const e = error as { code?: string; stderr?: string }
    return e.code === 'ENOENT' ? 'the ip command (iproute2) is not installed' : `ip netns add failed: ${String(e.stderr ?? error).trim()}`
  }
  try {
    ip(['-n', probe, 'link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1'])
    ip(['-n', probe, 'link', 'add', 'probebr', 'type', 'bridge'])
    execFileSync('ip', ['netns', 'exec', probe, process.execPath, '-e', ''], { stdio: ['ignore', 'ignore', 'pipe'] })
    return null
  } catch (error) {
    return `veth links, bridges or ip netns exec do not work here: ${String((error as { stderr?: string }).stderr ?? error).trim()}`
  } finally {
    tryIp(['netns', 'del', probe])
  }
}

export interface NetnsLab {
  /** e.g. 198.18.7.0/24 */
  readonly subnet: string
  /** This process's address on the lab's network. */
  readonly clientAddress: string
  /** The address of the node named `name`. */
  address(name: string): string
  /** A command prefix that runs a program in the node's namespace. */
  exec(name: string): readonly string[]
  /** Pulls the node's cable at the switch: its bridge port goes down. */
  cut(name: string): void
  restore(name: string): void
  /** Kills every process left in the lab's namespaces, removes them and this process's link; waits until they are gone. */
  destroy(): Promise<void>
}

const pidAlive = (pid: number): boolean => existsSync(`/proc/${pid}`)

/** Removes namespaces and root links of earlier runs whose process has exited. */
function sweepDeadRuns(): void {
  for (const line of ip(['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0]
    const m = OWNED_NS.exec(name)
    if (m !== null && !pidAlive(Number(m[1]))) removeNamespace(name)
  }
  for (const line of ip(['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1]
    const m = name === undefined ? null : OWNED_LINK.exec(name)
    if (m !== null && !pidAlive(Number(m[1]))) tryIp(['link', 'del', name!])
  }
}

function removeNamespace(ns: string): void {
  const pids = (() => {
    try {
      return ip(['netns', 'pids', ns]).split('\n').filter((p) => /^\d+$/.test(p)).map(Number)
    } catch {
      return []
    }
  })()
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // exited meanwhile
    }
  }
  tryIp(['netns', 'del', ns])
}

/** A /24 of 198.18.0.0/15 that no address or route of this machine uses, starting from the pid's. */
function freeSubnet(): string {
  const used = ip(['-o', '-4', 'addr', 'show']) + ip(['-4', 'route', 'show', 'table', 'all'])
  for (let i = 0; i < SUBNETS; i++) {
    const n = (process.pid + i) % SUBNETS
    const prefix = `198.${18 + (n >> 8)}.${n & 0xff}`
    if (!used.includes(`${prefix}.`)) return prefix
  }
  throw new Error('no free /24 in 198.18.0.0/15 for the netns lab')
}

/** Builds the lab for nodes `names` (short names: letters and digits). */
export function createNetnsLab(names: readonly string[]): NetnsLab {
  sweepDeadRuns()
  const tag = `${PREFIX}${process.pid}`
  const hub = `${tag}-hub`
  const clientLink = `t3c${process.pid}`
  const prefix = freeSubnet()
  const nsOf = (name: string): string => `${tag}-${name}`
  const index = new Map(names.map((n, i) => [n, i]))
  const port = (name: string): string => {
    const i = index.get(name)
    if (i === undefined) throw new Error(`no node ${name} in the netns lab (${names.join(', ')})`)
    return `p${i}`
  }
  const lab: NetnsLab = {
    subnet: `${prefix}.0/24`,
    clientAddress: `${prefix}.${CLIENT_HOST}`,
    address: (name) => `${prefix}.${FIRST_NODE_HOST + index.get(name)!}`,
    exec: (name) => ['ip', 'netns', 'exec', nsOf(name)],
    cut: (name) => void ip(['-n', hub, 'link', 'set', port(name), 'down']),
    restore: (name) => void ip(['-n', hub, 'link', 'set', port(name), 'up']),
    async destroy() {
      for (const name of names) removeNamespace(nsOf(name))
      removeNamespace(hub)
      tryIp(['link', 'del', clientLink])
      const deadline = Date.now() + CLEANUP_WAIT_MS
      while (tryIp(['link', 'show', clientLink]) || ip(['netns', 'list']).includes(`${tag}-`)) {
        if (Date.now() > deadline) throw new Error(`the netns lab ${tag} was not gone after ${CLEANUP_WAIT_MS} ms`)
        await new Promise((r) => setTimeout(r, 100))
      }
    },
  }
  try {
    ip(['netns', 'add', hub])
    ip(['-n', hub, 'link', 'add', 'br0', 'type', 'bridge'])
    ip(['-n', hub, 'link', 'set', 'br0', 'up'])
    for (const name of names) {
      const ns = nsOf(name)
      ip(['netns', 'add', ns])
      ip(['-n', ns, 'link', 'set', 'lo', 'up'])
      ip(['-n', hub, 'link', 'add', port(name), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns])
      ip(['-n', hub, 'link', 'set', port(name), 'master', 'br0', 'up'])
      ip(['-n', ns, 'addr', 'add', `${lab.address(name)}/24`, 'dev', 'eth0'])
      ip(['-n', ns, 'link', 'set', 'eth0', 'up'])
    }
    // This process's link: created in the hub, its other end moved into our own namespace.
    ip(['-n', hub, 'link', 'add', 'client', 'type', 'veth', 'peer', 'name', clientLink, 'netns', String(process.pid)])
    ip(['-n', hub, 'link', 'set', 'client', 'master', 'br0', 'up'])
    ip(['addr', 'add', `${lab.clientAddress}/24`, 'dev', clientLink])
    ip(['link', 'set', clientLink, 'up'])
  } catch (error) {
    for (const name of names) removeNamespace(nsOf(name))
    removeNamespace(hub)
    tryIp(['link', 'del', clientLink])
    throw error
  }
  return lab
}
