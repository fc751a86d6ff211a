/** The actor runtime's public face: what components under actors/ import. */
export { defineActor, mailboxMaxDefault, mailboxMaxLimit } from './actor.ts'
export type {
  ActorContext,
  ActorDefinition,
  ActorRef,
  AskOptions,
  AskReply,
  DeferredReply,
  HandlerResult,
  Message,
  Outcome,
  Returns,
  ReplyOf,
  Signal,
  SpawnOptions,
  StopReason,
} from './actor.ts'
export type { ActorAddress } from './address.ts'
export { anyIncarnation, formatAddress, parseAddress, sameAddress } from './address.ts'
export { ActorSystem, type ActorSystemOptions, type Executor } from './actor-system.ts'
export { NodeRuntime, type NodeRuntimeOptions } from './node-runtime.ts'
export type { DefinitionRef, HostStats } from './host-control.ts'
export { BufferPool, PooledBuffer, type BufferPoolOptions, type SlotHolder } from './buffer-pool.ts'
export type { ActorBuffers } from './actor-buffers.ts'
export type { Regions } from './actor-regions.ts'
export type { RegionHandle } from './regions-actor.ts'
export type { Metrics, MetricLabels, MetricOptions, HistogramOptions, CounterMetric, GaugeMetric, HistogramMetric, BoundHistogram } from './metrics/metrics.ts'
export { latencyBucketsSeconds } from './metrics/metrics.ts'
export type { Disk, DiskBuffer, DiskCapacity, DiskDirEntry, DiskEntryKind, DiskFile, DiskOpenOptions, DiskStat } from './disk/disk.ts'
export { UringDisk, type UringDiskOptions } from './disk/uring-disk.ts'
export { neverBuggify, type Buggify } from './buggify.ts'
export { CpuPool, type CpuPoolOptions } from './cpu-pool.ts'
export { sleep, systemClock, type Clock, type TimerHandle } from './clock.ts'
export { SeededRandom, systemRandom, type Random } from './random.ts'
export { createLogger, silentLogger, type Logger, type LogLevel } from './logger.ts'
export { Progress, progressSetting, type ProgressOptions, type ProgressSink, type ProgressStream, type ProgressUpdate, type PhaseOptions, type ProgressMode } from './progress/progress.ts'
export { formatBytes, formatDuration } from './progress/format.ts'
export { T3fsError, isT3fsError, invalidOption, toT3fsError, type WireError } from './errors.ts'
export { RuntimeErrorCode } from './runtime-errors.ts'
export type { SupervisionPolicy } from './supervision.ts'
export { readTopology, type NumaDomain } from './topology.ts'
export { crc32c, crc32cCombine, crc32cSegments } from './checksum.ts'
export { FuseDevice, mountFuse, unmountFuse, mountsAt, probeMount, prepareMountPoint, type FuseMountOptions, type MountEntry, type MountProbe } from './fuse-device.ts'
