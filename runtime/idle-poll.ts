/**
 * Whether a host that ran out of work polls its rings before it sleeps. A futex wake-up costs tens
 * of µs here, so polling briefly turns an ask's round trip from ~77 µs into ~4 µs — when the answer
 * comes within the poll. When the answers a host waits for take longer (its peer works through a
 * batch of many requests), every poll runs to its end and then sleeps anyway: it only burns CPU,
 * and on a machine whose cores are all busy it burns it on the core the peer needs (the peer's
 * thread is woken onto the waker's core). So the host keeps a moving average of how long its idle
 * spells lasted, capped so that a long quiet period is forgotten after a few short spells, and
 * polls while that average fits in the poll.
 *
 * A spell spent asleep also counts the wake-up (tens of µs), so a host whose answers come in 20 µs
 * can see 50–60 µs spells while it sleeps and never poll again. Hence a probe: while it sleeps, one
 * idle spell in `probeEvery` polls anyway; a probe that catches its answer records the short spell
 * polling gets, and a few of them bring polling back.
 */
export class IdlePoll {
  private averageMicros = 0
  private sinceProbe = 0

  /** `pollMicros`: the longest poll; 0 never polls. */
  constructor(readonly pollMicros: number) {}

  /** Poll before sleeping this time? (Counts the idle spell toward the next probe.) */
  shouldPoll(): boolean {
    if (this.pollMicros <= 0) return false
    if (this.averageMicros <= this.pollMicros) return true
    if (++this.sinceProbe < probeEvery) return false
    this.sinceProbe = 0
    return true
  }

  /** An idle spell ended (work arrived) after `micros`. */
  noteIdle(micros: number): void {
    const capped = Math.min(micros, this.pollMicros * spellCapFactor)
    this.averageMicros += (capped - this.averageMicros) * averageWeight
  }
}

/** A spell counts at most this many polls long: after a long quiet period, four short spells make polling pay again. */
const spellCapFactor = 4
/** Weight of the newest spell in the moving average. */
const averageWeight = 0.25
/** While sleeping at once, one idle spell in this many polls anyway (at most one poll's CPU per this many spells). */
export const probeEvery = 16
