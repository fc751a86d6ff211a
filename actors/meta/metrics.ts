/**
 * Meta operation rates and latencies through ctx.metrics: every request a meta server admits is
 * counted when its reply goes out, by operation (the request type) and result (ok or the error
 * code, e.g. ENOENT), with its time from admission to reply on the actor's clock.
 */
import type { BoundHistogram, Clock, CounterMetric, DeferredReply, HistogramMetric, Metrics } from '../../runtime/index.ts'
import { toT3fsError } from '../../runtime/errors.ts'

interface Instruments {
  readonly ops: CounterMetric
  readonly latency: HistogramMetric
  /** The latency series of each operation, bound once: an observation then skips the label lookup. */
  readonly latencyByOp: Map<string, BoundHistogram>
}

const instruments = new WeakMap<Metrics, Instruments>()

function metaInstruments(metrics: Metrics): Instruments {
  let found = instruments.get(metrics)
  if (found === undefined) {
    found = {
      ops: metrics.counter('t3fs_meta_ops_total', { help: 'meta requests answered, per operation and result (ok or error code)', labels: ['op', 'result'] }),
      latency: metrics.histogram('t3fs_meta_op_duration_seconds', { help: 'time from admitting a meta request to its reply, seconds', labels: ['op'] }),
      latencyByOp: new Map(),
    }
    instruments.set(metrics, found)
  }
  return found
}

function latencyOf(found: Instruments, op: string): BoundHistogram {
  let bound = found.latencyByOp.get(op)
  if (bound === undefined) {
    bound = found.latency.bind({ op })
    found.latencyByOp.set(op, bound)
  }
  return bound
}

/** Starts timing one request; the returned function counts it with its result (ok or an error code). */
export function meterRequest(metrics: Metrics, clock: Clock, op: string): (result: string) => void {
  const found = metaInstruments(metrics)
  const latency = latencyOf(found, op)
  const startMs = clock.now()
  return (result) => {
    found.ops.inc({ op, result })
    latency.observe((clock.now() - startMs) / 1000)
  }
}

export function meteredReply(reply: DeferredReply, metrics: Metrics, clock: Clock, op: string): DeferredReply {
  const done = meterRequest(metrics, clock, op)
  return {
    resolve(value) {
      done('ok')
      reply.resolve(value)
    },
    reject(error) {
      done(toT3fsError(error).code)
      reply.reject(error)
    },
  }
}
