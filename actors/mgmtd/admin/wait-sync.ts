/**
 * `t3fs admin wait-sync [--chain-id N] [--interval 1s] [--max-wait 30min]`: follows the targets that
 * are not SERVING (a returning target WAITING, then SYNCING while its predecessor copies the
 * chunks that differ) on the progress reporter (stderr: a line redrawn on a terminal, plain lines
 * otherwise), until every target of the chains is SERVING; then lists them. The line counts the
 * chunks compared over every target seen syncing (done/total, ETA), how many targets are still
 * behind, and per target its chunks compared, copied and the copy rate. A sync that is not done
 * after --max-wait fails (ERR_SYNC_TIMEOUT, exit 1).
 */
import { T3fsError } from '../../../runtime/errors.ts'
import { DURATION_ACCEPTED, parseDurationMs } from '../../../runtime/profile/units.ts'
import { formatBytes } from '../../../runtime/progress/format.ts'
import type { ProgressUpdate } from '../../../runtime/progress/progress.ts'
import type { RoutingInfo, TargetInfo } from '../protocol.ts'
import { parseId, routing, usageError, type AdminCommand, type AdminEnv } from './commands.ts'

/** Bytes copied per target at the previous poll, for the copy rate. */
type Copied = ReadonlyMap<number, { bytes: number; atMs: number }>

/**
 * Chunks compared per target seen syncing, kept across polls: mgmtd drops a target's progress
 * once it serves, and the overall count must not fall back when one finishes.
 */
export type SyncSeen = Map<number, { doneChunks: number; totalChunks: number }>

/** Targets shown one by one on the line; the rest is `…`. */
const TARGETS_SHOWN_MAX = 3

function targetText(t: TargetInfo, copied: Copied, nowMs: number): string {
  const p = t.syncProgress
  if (p === null) return `target ${t.targetId} ${t.publicState}`
  const percent = p.totalChunks === 0 ? 100 : Math.floor((100 * p.doneChunks) / p.totalChunks)
  const before = copied.get(t.targetId)
  const seconds = before === undefined ? 0 : (nowMs - before.atMs) / 1000
  const rate = seconds > 0 && p.copiedBytes >= before!.bytes ? `, ${formatBytes((p.copiedBytes - before!.bytes) / seconds)}/s` : ''
  return `target ${t.targetId} ${t.publicState} ${p.doneChunks}/${p.totalChunks} chunks (${percent}%), ${p.copiedChunks} copied (${formatBytes(p.copiedBytes)}${rate})`
}

/** Remembers this poll's progress; a target seen syncing that now serves counts as fully compared. */
export function noteSync(seen: SyncSeen, targets: readonly TargetInfo[]): void {
  for (const t of targets) {
    if (t.syncProgress !== null) seen.set(t.targetId, { doneChunks: t.syncProgress.doneChunks, totalChunks: t.syncProgress.totalChunks })
    else if (t.publicState === 'SERVING' && seen.has(t.targetId)) seen.set(t.targetId, { doneChunks: seen.get(t.targetId)!.totalChunks, totalChunks: seen.get(t.targetId)!.totalChunks })
  }
}

/** The figures of one poll: chunks compared of all seen (none before a sync began), and the text. */
export function syncFigures(targets: readonly TargetInfo[], seen: SyncSeen, copied: Copied, nowMs: number): ProgressUpdate {
  const counts = seen.size === 0 ? {} : {
    done: [...seen.values()].reduce((n, s) => n + s.doneChunks, 0),
    total: [...seen.values()].reduce((n, s) => n + s.totalChunks, 0),
  }
  const behind = targets.filter((t) => t.publicState !== 'SERVING')
  if (behind.length === 0) return { ...counts, detail: `all ${targets.length} targets SERVING` }
  const syncing = behind.filter((t) => t.publicState === 'SYNCING').length
  const shown = behind.slice(0, TARGETS_SHOWN_MAX).map((t) => `chain ${t.chainId} ${targetText(t, copied, nowMs)}`).join('; ')
  const more = behind.length > TARGETS_SHOWN_MAX ? '; …' : ''
  return { ...counts, detail: `${behind.length} of ${targets.length} targets not SERVING (${syncing} SYNCING): ${shown}${more}` }
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
  summary: 'follow target sync (chunks compared, targets behind, ETA) until every target is SERVING',
  options: { 'chain-id': { type: 'string' }, interval: { type: 'string' }, 'max-wait': { type: 'string' } },
  positionals: [0, 0],
  async run(_p, values, env) {
    const chainId = values['chain-id'] === undefined ? null : parseId(values['chain-id'] as string, '--chain-id')
    const intervalMs = duration(values.interval, '--interval', 1_000, 50)
    const maxWaitMs = duration(values['max-wait'], '--max-wait', 30 * 60_000, intervalMs)
    const clock = env.clock
    if (clock === undefined) throw new T3fsError('ERR_INTERNAL', 'wait-sync needs a clock in its environment', {})
    const progress = env.progress
    const startMs = clock.now()
    const seen: SyncSeen = new Map()
    let copied = new Map<number, { bytes: number; atMs: number }>()
    let figures: ProgressUpdate = {}
    try {
      for (let poll = 0; ; poll++) {
        const nowMs = clock.now()
        const targets = await targetsOf(env, chainId)
        noteSync(seen, targets)
        figures = syncFigures(targets, seen, copied, nowMs)
        if (poll === 0) progress?.start('sync', { unit: 'chunks', ...figures })
        else progress?.update(figures)
        if (targets.every((t) => t.publicState === 'SERVING')) {
          progress?.end(figures)
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
    } catch (error) {
      // The progress line ends before the error is printed below it.
      progress?.fail(figures)
      throw error
    }
  },
}
