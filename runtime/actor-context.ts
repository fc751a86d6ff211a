import type { ActorContext, DeferredReply, Message, Outcome } from './actor.ts'
import type { ActorCell } from './actor-cell.ts'
import type { ActorEpoch } from './actor-epoch.ts'
import { actorBuffers } from './actor-buffers.ts'
import { actorDisk } from './actor-disk.ts'
import { actorRegions } from './actor-regions.ts'
import { regionsAddress, type RegionsMsg } from './regions-actor.ts'
import { T3fsError, toT3fsError } from './errors.ts'
import { actorFenced } from './runtime-errors.ts'

/**
 * The context one epoch of an actor works through. Everything that touches the world (sending,
 * replying, spawning, timers, buffers, the disk, piped work) first checks that the epoch is still
 * the actor's live one: a handler still running after its actor crashed is refused with
 * ERR_ACTOR_FENCED and cannot answer its successor's asks or write to its files.
 */
export function createActorContext(cell: ActorCell, epoch: ActorEpoch): ActorContext<Message> {
  const system = cell.system
  const checkLive = (operation: string): void => {
    if (!epoch.live) throw actorFenced(cell.address, cell.kind, operation)
  }
  const holder = { host: system.host, actor: cell.address.id, epoch: epoch.number }
  const buffers = system.bufferPool === null ? null : actorBuffers(system.bufferPool, holder, system.clock, checkLive)
  const disk = system.meteredDisk === null ? null : actorDisk(system.meteredDisk, epoch, checkLive)
  const regions = system.servesRegions && system.bufferPool !== null ? actorRegions(system, epoch, checkLive) : null
  if (regions !== null) {
    const service = system.refFor<RegionsMsg>(regionsAddress(system.node, system.incarnation))
    epoch.unregisterRegion = async (regionId) => { await service.ask({ type: 'unregister', regionId }) }
  }
  return {
    self: cell.ref,
    clock: system.clock,
    random: system.random,
    log: system.log.child({ actor: cell.definition.kind }),
    buffers,
    disk,
    regions,
    metrics: system.metrics,
    get sender() {
      return epoch.live ? cell.currentSender : null
    },
    buggify: (site) => system.buggify.fire(site),
    reply(value) {
      checkLive('reply')
      cell.replyToCurrent(true, value)
    },
    fail(error) {
      checkLive('reply')
      cell.replyToCurrent(false, toT3fsError(error))
    },
    deferReply(): DeferredReply {
      checkLive('defer a reply')
      return deferred(cell, epoch)
    },
    tell(to, message) {
      checkLive('send')
      system.tellFrom(to.address, message, cell.ref)
    },
    refFor(address) {
      return system.refFor(address)
    },
    ask(to, message, options) {
      checkLive('ask')
      return system.askFrom(to.address, message, cell.ref, options) as never
    },
    spawn(definition, args, options) {
      checkLive('spawn')
      return system.spawnCell(definition, args, options ?? {}, cell).ref as never
    },
    stop(ref) {
      checkLive('stop actors')
      if (ref === undefined) return cell.requestStop({ kind: 'stopped' })
      const child = [...cell.children].find((c) => c.ref.equals(ref))
      if (child === undefined) throw new T3fsError('ERR_NOT_A_CHILD', `${String(ref)} is not a child of ${cell.kind}`)
      child.requestStop({ kind: 'stopped' })
    },
    watch(ref) {
      checkLive('watch')
      system.watch(cell.address, ref.address)
    },
    unwatch(ref) {
      checkLive('unwatch')
      system.unwatch(cell.address, ref.address)
    },
    schedule(delayMs, message) {
      checkLive('schedule')
      return cell.scheduleSelf(delayMs, message)
    },
    pipeToSelf<T>(work: Promise<T>, toMessage: (outcome: Outcome<T>) => Message) {
      checkLive('pipe work to itself')
      epoch.track(work).then(
        (value) => deliverPiped(cell, epoch, toMessage, { ok: true, value }),
        (error: unknown) => deliverPiped(cell, epoch, toMessage, { ok: false, error: toT3fsError(error) }),
      )
    },
  }
}

/**
 * Piped work's outcome as a message to its actor (a function of the module, not a closure per
 * pipeToSelf: under tsx every named closure costs an Object.defineProperty when it is made).
 */
function deliverPiped<T>(cell: ActorCell, epoch: ActorEpoch, toMessage: (outcome: Outcome<T>) => Message, outcome: Outcome<T>): void {
  if (!epoch.live) return // the actor crashed or stopped: its successor must not see this
  let message: Message
  try {
    message = toMessage(outcome)
  } catch (error) {
    cell.onFailure(error)
    return
  }
  cell.enqueueInternal(message)
}

/** A reply finished later; failed by the runtime if its epoch crashes first. */
function deferred(cell: ActorCell, epoch: ActorEpoch): DeferredReply {
  const target = cell.takeCurrentReply()
  if (target === null) return { resolve() {}, reject() {} }
  const system = cell.system
  let done = false
  const entry = {
    fail(error: unknown) {
      if (done) return
      done = true
      system.completeReply(target, false, toT3fsError(error))
    },
  }
  epoch.deferred.add(entry)
  return {
    resolve(value) {
      if (done || !epoch.live) return
      done = true
      epoch.deferred.delete(entry)
      system.completeReply(target, true, value)
    },
    reject(error) {
      if (done || !epoch.live) return
      done = true
      epoch.deferred.delete(entry)
      system.completeReply(target, false, toT3fsError(error))
    },
  }
}
