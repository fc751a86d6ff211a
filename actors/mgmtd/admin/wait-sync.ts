/**
 * `t3fs admin wait-sync [--chain-id N] [--interval 1s] [--max-wait 30min]`: follows the targets that
 * are not SERVING (a returning target WAITING, then SYNCING while its predecessor copies the
 * chunks that differ) on one progress line, until every target of the chains is SERVING; then
 * lists them. A sync that is not done after --max-wait fails (ERR_SYNC_TIMEOUT, exit 1).
 */
import { T3fsError } from '../../../runtime/errors.ts'
import { DURATION_ACCEPTED, parseDurationMs } from '../../../runtime/profile/units.ts'
import type { RoutingInfo, TargetInfo } from '../protocol.ts'
import { parseId, routing, usageError, type AdminCommand, type AdminEnv } from './commands.ts'

/** Bytes copied per target at the previous poll, for the copy rate. */
type Copied = ReadonlyMap<number, { bytes: number; atMs: number }>

const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(1)} MiB`

function targetText(t: TargetInfo, copied: Copied, nowMs: number): string {
  const p = t.syncProgress
  if (p === null) return `target ${t.targetId} ${t.publicState}`
  const percent = p.totalChunks === 0 ? 100 : Math.floor((100 * p.doneChunks) / p.totalChunks)
  const before = copied.get(t.targetId)
  const seconds = before === undefined ? 0 : (nowMs - before.atMs) / 1000
  const rate = seconds > 0 && p.copiedBytes >= before!.bytes ? `, ${mib((p.copiedBytes - before!.bytes) / seconds)}/s` : ''
  return `target ${t.targetId} ${t.publicState} ${p.doneChunks}/${p.totalChunks} chunks (${percent}%), ${p.copiedChunks} copied (${mib(p.copiedBytes)}${rate})`
}

/** One line on the sync of the chains' targets that are not SERVING (empty list: all serving). */
export function syncProgressLine(targets: readonly TargetInfo[], copied: Copied, nowMs: number, elapsedMs: number): string {
  const behind = targets.filter((t) => t.publicState !== 'SERVING')
  if (behind.length === 0) return `sync: all ${targets.length} targets SERVING after ${(elapsedMs / 1000).toFixed(1)} s`
  const shown = behind.slice(0, 3).map((t) => `chain ${t.chainId} ${targetText(t, copied, nowMs)}`).join('; ')
  return `sync: ${behind.length} of ${targets.length} targets not SERVING: ${shown}${behind.length > 3 ? '; …' : ''} · ${(elapsedMs / 1000).toFixed(0)} s`
}

function duration(value: unknown, option: string, fallbackMs: number, minMs: number): number {
  if (value === undefined) return fallbackMs
  const ms = typeof value === 'string' ? parseDurationMs(value) : undefined
  if (ms === undefined || ms < minMs) throw usageError(`${option} ${JSON.stringify(value)} is not accepted; accepted: ${DURATION_ACCEPTED}, at least ${minMs}ms`)
  return ms
}

async function targetsOf(env: AdminEnv, chainId: number | null): Promise<TargetInfo[]> {
  const info: RoutingInfo = await routing(env)
  const targets = info.targets.filter((t) => chainId === null || t.chainId === chainId)
  if (chainId !== null && targets.length === 0) throw new T3fsError('ERR_ADMIN_NOT_FOUND', `chain ${chainId} has no targets in mgmtd's routing; accepted: a chain id that list-chains shows`, { chainId })
  return targets
}

export const waitSyncCommand: AdminCommand = {
  name: 'wait-sync',
  usage: 'wait-sync [--chain-id N] [--interval 1s] [--max-wait 30min]',
  summary: 'follow target sync on one progress line until every target is SERVING',
  options: { 'chain-id': { type: 'string' }, interval: { type: 'string' }, 'max-wait': { type: 'string' } },
  positionals: [0, 0],
  async run(_p, values, env) {
    const chainId = values['chain-id'] === undefined ? null : parseId(values['chain-id'] as string, '--chain-id')
    const intervalMs = duration(values.interval, '--interval', 1_000, 50)
    const maxWaitMs = duration(values['max-wait'], '--max-wait', 30 * 60_000, intervalMs)
    const clock = env.clock
    if (clock === undefined) throw new T3fsError('ERR_INTERNAL', 'wait-sync needs a clock in its environment', {})
    const startMs = clock.now()
    let copied = new Map<number, { bytes: number; atMs: number }>()
    for (;;) {
      const nowMs = clock.now()
      const targets = await targetsOf(env, chainId)
      const done = targets.every((t) => t.publicState === 'SERVING')
      env.progress?.(syncProgressLine(targets, copied, nowMs, nowMs - startMs), done)
      if (done) {
        return {
          kind: 'table', columns: ['TargetId', 'ChainId', 'PublicState', 'LocalState', 'NodeId'],
          rows: targets.map((t) => [t.targetId, t.chainId, t.publicState, t.localState, t.nodeId]), json: targets,
        }
      }
      if (nowMs - startMs >= maxWaitMs) {
        throw new T3fsError('ERR_SYNC_TIMEOUT', `targets still not SERVING after --max-wait ${maxWaitMs} ms: ${targets.filter((t) => t.publicState !== 'SERVING').map((t) => `${t.targetId} ${t.publicState}`).join(', ')}`, { chainId })
      }
      copied = new Map(targets.filter((t) => t.syncProgress !== null).map((t) => [t.targetId, { bytes: t.syncProgress!.copiedBytes, atMs: nowMs }]))
      await new Promise<void>((resolve) => clock.setTimer(intervalMs, () => resolve()))
    }
  },
}
