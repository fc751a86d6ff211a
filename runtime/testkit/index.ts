/** Test support: virtual time, probes, and the seeded simulator. */
export { VirtualClock, flushMicrotasks } from './virtual-clock.ts'
export { TestSystem, TestProbe, type TestSystemOptions } from './test-system.ts'
export { Simulation, exploreSeeds, type FaultPlan, type RunLimits, type SimNode, type SeedFailure } from './simulation.ts'
export { SimDisk, type SimDiskOptions, type SimDiskFaults, type SimDiskPathFaults, type SimDiskCounters, type SimDiskCrashReport, type SimDiskImageEntry } from './sim-disk.ts'
