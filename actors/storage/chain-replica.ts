/**
 * A storage target's chain replica (CRAQ, reference/3fs.md §3.3–§3.6). Its node tells it its place
 * in the chain (`target-view`); it reports its space and sync state back (`target-report`).
 */
import { defineActor } from '../../runtime/actor.ts'
import { T3fsError } from '../../runtime/errors.ts'
import type { ReplicaArgs } from './storage-node.ts'
import { StorageErrorCode, type ReplicaMsg, type TargetView } from './protocol.ts'
import { validateReplicaMsg } from './validate.ts'

interface ReplicaState {
  readonly args: ReplicaArgs
  view: TargetView | null
}

export const chainReplica = defineActor<ReplicaState, ReplicaMsg, ReplicaArgs>({
  kind: 'chain-replica',
  mailboxMax: 8192,
  supervision: { strategy: 'restart', maxRestarts: 1000, withinMs: 60_000, backoffMinMs: 10, backoffMaxMs: 1_000 },
  validate: validateReplicaMsg,
  init(ctx, args) {
    ctx.tell(args.node, { type: 'replica-started', targetId: args.targetId, address: ctx.self.address })
    return { args, view: null }
  },
  handle(state, msg, ctx) {
    switch (msg.type) {
      case 'target-view':
        state.view = msg.view
        return
      case 'list-chunks':
        return ctx.reply([])
      default:
        throw new T3fsError(StorageErrorCode.TARGET_STATE, `target ${state.args.targetId} does not serve ${msg.type} yet`, { targetId: state.args.targetId })
    }
  },
})
