/**
 * Picks the node's transport: rdma where a device exists (and the RDMA transport is available),
 * otherwise tcp, and says why, so the launcher can log the choice.
 *
 * The probe is injectable: tests and the simulator decide what "a device exists" means. The
 * default probe looks at sysfs (/sys/class/infiniband), which needs no native code; the native
 * verbs module (native/) will give a finer answer (ibv_get_device_list) once it lands.
 */
import { readdirSync } from 'node:fs'
import { T3fsError } from '../errors.ts'
import type { TransportKind } from '../profile/profile.ts'

export interface RdmaProbe {
  /** RDMA device names found, or an empty list. */
  readonly devices: readonly string[]
  /** Why there are none (shown to the operator). */
  readonly reason: string
  /** Whether an RDMA NodeTransport implementation can be loaded in this build. */
  readonly implemented: boolean
}

export interface TransportChoice {
  readonly kind: 'tcp' | 'rdma'
  readonly reason: string
  readonly devices: readonly string[]
}

export const RDMA_TRANSPORT_IMPLEMENTED = false

export function probeRdma(sysfsDir = '/sys/class/infiniband'): RdmaProbe {
  try {
    const devices = readdirSync(sysfsDir)
    return { devices, reason: devices.length === 0 ? `${sysfsDir} lists no devices` : `devices: ${devices.join(', ')}`, implemented: RDMA_TRANSPORT_IMPLEMENTED }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO'
    return { devices: [], reason: `no RDMA device (${sysfsDir}: ${code}; the kernel has no InfiniBand/RoCE support or no device)`, implemented: RDMA_TRANSPORT_IMPLEMENTED }
  }
}

export function selectTransport(requested: TransportKind, probe: RdmaProbe = probeRdma()): TransportChoice {
  const hasDevice = probe.devices.length > 0
  if (requested === 'tcp') return { kind: 'tcp', reason: 'transport.kind is "tcp"', devices: probe.devices }
  if (requested === 'rdma') {
    if (!hasDevice) {
      throw new T3fsError('ERR_TRANSPORT_UNAVAILABLE', `transport.kind is "rdma" but ${probe.reason}; accepted: "tcp" or "auto" on this machine`, { requested, reason: probe.reason })
    }
    if (!probe.implemented) {
      throw new T3fsError('ERR_TRANSPORT_UNAVAILABLE', `transport.kind is "rdma" and ${probe.reason}, but this build has no RDMA transport yet; accepted: "tcp" or "auto"`, { requested, reason: 'rdma transport not implemented' })
    }
    return { kind: 'rdma', reason: `transport.kind is "rdma"; ${probe.reason}`, devices: probe.devices }
  }
  if (hasDevice && probe.implemented) return { kind: 'rdma', reason: `auto: RDMA ${probe.reason}`, devices: probe.devices }
  if (hasDevice) return { kind: 'tcp', reason: `auto: RDMA ${probe.reason}, but this build has no RDMA transport yet; using tcp`, devices: probe.devices }
  return { kind: 'tcp', reason: `auto: ${probe.reason}; using tcp`, devices: probe.devices }
}
