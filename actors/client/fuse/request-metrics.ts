/**
 * FUSE requests as metrics, for the mount actor to call through its ctx.metrics: requests per
 * opcode and result (ok or the errno name), and their latency from the kernel's request to the
 * reply written back.
 */
import type { Clock, CounterMetric, HistogramMetric, Metrics } from '../../../runtime/index.ts'

const instruments = new WeakMap<Metrics, { requests: CounterMetric; latency: HistogramMetric }>()

/** Starts timing one request; call the returned function with 'ok' or the errno name of the reply. */
export function fuseRequestStarted(metrics: Metrics, clock: Clock, opcode: string): (result: string) => void {
  let found = instruments.get(metrics)
  if (found === undefined) {
    found = {
      requests: metrics.counter('t3fs_fuse_requests_total', { help: 'FUSE requests answered, per opcode and result (ok or errno name)', labels: ['op', 'result'] }),
      latency: metrics.histogram('t3fs_fuse_request_duration_seconds', { help: 'time from a FUSE request to its reply, seconds', labels: ['op'] }),
    }
    instruments.set(metrics, found)
  }
  const { requests, latency } = found
  const startMs = clock.now()
  return (result) => {
    requests.inc({ op: opcode, result })
    latency.observe({ op: opcode }, (clock.now() - startMs) / 1000)
  }
}
