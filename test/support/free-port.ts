/**
 * Loopback ports for the profiles of child nodes in tests and benches, which must be written
 * before the nodes start (each node's peers are in its profile), so a node cannot listen on port 0.
 *
 * A port is only checked free here and bound later by the node, seconds after. Two things can
 * take it in between, more so since two test files run at once, and a node whose bind is refused
 * leaves its dev cluster never ready:
 * - the kernel's ephemeral ports: any outgoing connection, or any listen(0) of another test, may be
 *   given a port in /proc/sys/net/ipv4/ip_local_port_range. So ports come from below that range,
 *   where the kernel never hands one out by itself.
 * - another test process picking the same port: each port is claimed with a file created
 *   exclusively in a directory shared by the machine's tests, naming the claiming process; the
 *   claim of a process that has exited is taken over.
 */
import { randomInt } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Ports below this are left alone (well-known and registered services). */
const LOWEST = 10_000
export const PORT_CLAIMS = join(tmpdir(), 't3fs-test-ports')
const ATTEMPTS = 1_000

/** The first port of the kernel's ephemeral range (32768 when it cannot be read). */
function ephemeralStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
    return Number.isInteger(low) && low > LOWEST + 1_000 ? low : 32_768
  } catch {
    return 32_768
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Claims `port` for this process: true when no live process holds it. */
export function claimPort(port: number): boolean {
  // Shared like /tmp (sticky, writable by all): tests may run as other users.
  if (mkdirSync(PORT_CLAIMS, { recursive: true }) !== undefined) chmodSync(PORT_CLAIMS, 0o1777)
  const file = join(PORT_CLAIMS, String(port))
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' })
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
  }
  const holder = Number(readFileSync(file, 'utf8'))
  if (holder === process.pid || (Number.isInteger(holder) && holder > 0 && alive(holder))) return false
  writeFileSync(file, String(process.pid))
  return true
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/** A loopback port that is free, outside the ephemeral range, and claimed by no other live test process. */
export async function freePort(): Promise<number> {
  const end = ephemeralStart()
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = randomInt(LOWEST, end)
    if (claimPort(port) && await canListen(port)) return port
  }
  throw new Error(`no free port in ${LOWEST}-${end - 1} after ${ATTEMPTS} attempts (claims in ${PORT_CLAIMS})`)
}
