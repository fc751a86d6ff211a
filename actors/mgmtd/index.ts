/** mgmtd's public face: its messages, the actor, and the admin command layer. */
export * from './protocol.ts'
export { mgmtdActor, type MgmtdArgs, type MgmtdProbe } from './mgmtd-actor.ts'
export { DEFAULT_MGMTD_CONFIG, resolveMgmtdConfig, type MgmtdConfig } from './config.ts'
export { nextTargets, updateChain, rotateLastSrv, chainInvariantError } from './chain-state-machine.ts'
export { COMMANDS as ADMIN_COMMANDS, type AdminCommand, type AdminEnv, type AdminResult } from './admin/commands.ts'
export { adminCommand, adminUsage, type AdminDeps, type AdminIo } from './admin/cli.ts'
export { parseChainsCsv, parseChainTableCsv } from './admin/csv.ts'
