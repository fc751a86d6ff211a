/**
 * Whether a host that ran out of work polls its rings before it sleeps. A futex wake-up costs tens
 * of µs here, so polling briefly turns an ask's round trip from ~77 µs into ~4 µs — when the answer
 * comes within the poll. When the answers a host waits for take longer (its peer works through a
 * batch of many requests), every poll runs to its end and then sleeps anyway: it only burns CPU,
 * and on a machine whose cores are all busy it burns it on the core the peer needs (the peer's
 * thread is woken onto the waker's core). So the host keeps a moving average of how long its idle
 * spells lasted, capped so that a long quiet period is forgotten after a few short spells, and
 * polls only while that average fits in the poll.
 */
export class IdlePoll {
  private averageMicros = 0

  /** `pollMicros`: the longest poll; 0 never polls. */
  constructor(readonly pollMicros: number) {}

  /** Poll before sleeping this time? */
  get worthPolling(): boolean {
    return this.pollMicros > 0 && this.averageMicros <= this.pollMicros
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
