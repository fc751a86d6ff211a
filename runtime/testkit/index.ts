/** Test support: virtual time, probes, and the seeded simulator. */
export { VirtualClock, flushMicrotasks } from './virtual-clock.ts'
export { TestSystem, TestProbe, type TestSystemOptions } from './test-system.ts'
export { Simulation, exploreSeeds, SimNode, type FaultPlan, type RunLimits, type SeedFailure, type SimNodeOptions, type CrashableDisk } from './simulation.ts'
export { SimNetwork, type NetworkFaults } from './sim-network.ts'
export { SimTransport } from './sim-transport.ts'
export { NodeClock } from './node-clock.ts'
export { SimDisk, type SimDiskOptions, type SimDiskFaults, type SimDiskPathFaults, type SimDiskCounters, type SimDiskCrashReport, type SimDiskImageEntry } from './sim-disk.ts'
