import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'

/** A NUMA domain: its id and the CPUs it owns. */
export interface NumaDomain {
  readonly id: number
  readonly cpus: readonly number[]
}

/** Parses a sysfs cpulist such as "0-3,8,10-11". */
export function parseCpuList(text: string): number[] {
  const cpus: number[] = []
  for (const part of text.trim().split(',')) {
    if (part === '') continue
    const [from, to] = part.split('-').map((n) => Number.parseInt(n, 10))
    if (!Number.isInteger(from) || (to !== undefined && !Number.isInteger(to))) throw new Error(`bad cpulist ${JSON.stringify(text)}`)
    for (let cpu = from; cpu <= (to ?? from); cpu++) cpus.push(cpu)
  }
  return cpus
}

/**
 * Reads the NUMA topology from sysfs; a machine without /sys/devices/system/node is one domain
 * holding every CPU.
 */
export function readTopology(root = '/sys/devices/system/node'): NumaDomain[] {
  try {
    const domains = readdirSync(root)
      .filter((name) => /^node\d+$/.test(name))
      .map((name) => ({
        id: Number.parseInt(name.slice(4), 10),
        cpus: parseCpuList(readFileSync(`${root}/${name}/cpulist`, 'utf8')),
      }))
      .filter((domain) => domain.cpus.length > 0)
      .sort((a, b) => a.id - b.id)
    if (domains.length > 0) return domains
  } catch {
    // fall through: no sysfs NUMA information
  }
  return [{ id: 0, cpus: os.cpus().map((_, index) => index) }]
}
