/**
 * What an actor started from a profile receives at spawn: its `[actors.params]`, plus the node
 * services its definition declares in `needs`: "kv", handed over as `nodeKv`, the profile's
 * resolved [kv] (backend, path under node.root, cluster file); "listen", handed over as
 * `nodeListen`, the node's TCP listen address "host:port"; "root", handed over as `nodeRoot`, the
 * node's absolute root directory (what the FUSE mount resolves a relative mount point against);
 * "layout", handed over as `clusterLayout` when the node bootstraps a cluster, the layout of the
 * cluster's files in [bootstrap] (bootstrapLayout in cluster.ts; meta gives it to the root);
 * "cluster", handed over as `nodeClusterId`, node.cluster_id (the FUSE mount's name in /proc/mounts,
 * `t3fs.<id>`, which smallpond's t3fs://<id>/ paths find).
 *
 * Why only to actors that declare it, not to all: an actor's params are its own validated
 * namespace (mgmtd reads unknown keys as timing knobs and refuses the unknown ones), so settings
 * pushed into every actor would have to be tolerated by actors that never use them; and a
 * declaration keeps which components touch the KV visible in their code. The price is one import
 * of the actor's module on the main thread, which also checks the export before any worker runs it.
 */
import { pathToFileURL } from 'node:url'
import { T3fsError } from '../runtime/errors.ts'
import { loadDefinition } from '../runtime/definition-loader.ts'
import type { ActorEntry, Profile } from '../runtime/profile/index.ts'
import type { Layout } from '../actors/meta/layout.ts'

/** Services the launcher can hand an actor, and the spawn-arg key each arrives under. */
export const NODE_SERVICES: Readonly<Record<string, string>> = { kv: 'nodeKv', listen: 'nodeListen', root: 'nodeRoot', layout: 'clusterLayout', cluster: 'nodeClusterId' }
/** Where the profile sets each service (what a refused param names instead). */
const SET_IN: Readonly<Record<string, string>> = { kv: "the profile's [kv] section", listen: "the profile's [listen] section", root: 'node.root', layout: "the profile's [bootstrap] section", cluster: 'node.cluster_id' }

/** The `needs` an actor's definition declares (none when it declares nothing). */
export async function declaredNeeds(actor: ActorEntry): Promise<readonly string[]> {
  // The worker host's own loader: the same file (compiled in a built package), the same errors.
  const definition = await loadDefinition({ module: pathToFileURL(actor.module).href, export: actor.export })
  const needs = (definition as { needs?: unknown }).needs ?? []
  if (!Array.isArray(needs) || needs.some((n) => typeof n !== 'string' || !(n in NODE_SERVICES))) {
    throw new T3fsError('ERR_PROFILE', `actor ${actor.name}: its definition ${actor.export} declares needs ${JSON.stringify(needs)}; accepted: a list of ${Object.keys(NODE_SERVICES).map((s) => JSON.stringify(s)).join(', ')}`, { actor: actor.name, key: 'needs' })
  }
  return needs as string[]
}

/**
 * Spawn args: the actor's params plus the services it needs. A param may not shadow a service,
 * nor configure it on the side (kv_backend, kv_path… of older profiles): the section is the one
 * source, and refusing here fails the launch at once instead of crash-looping the actor.
 */
export function spawnArgs(profile: Profile, actor: ActorEntry, needs: readonly string[], clusterLayout: Layout | null = null): Readonly<Record<string, unknown>> {
  const args: Record<string, unknown> = { ...actor.params }
  for (const need of needs) {
    const key = NODE_SERVICES[need]
    const sideways = new RegExp(`^${need}([_A-Z]|$)`)
    for (const param of Object.keys(actor.params)) {
      if (param !== key && !sideways.test(param)) continue
      throw new T3fsError('ERR_PROFILE', `actors.params.${param} of actor ${actor.name} is ${JSON.stringify(actor.params[param])}; accepted: no such param — the actor's ${need.toUpperCase()} is the node's, set in ${SET_IN[need]} (handed over as ${key}); remove ${param}`, {
        file: profile.file, actor: actor.name, key: `actors.params.${param}`,
      })
    }
    if (need === 'kv') args[key] = { backend: profile.kv.backend, path: profile.kv.path, ...(profile.kv.clusterFile !== undefined ? { clusterFile: profile.kv.clusterFile } : {}) }
    // The node's own TCP address (a storage node reports it to mgmtd, for admin tools to reach it).
    if (need === 'listen') args[key] = reportedListen(profile, actor)
    if (need === 'root') args[key] = profile.node.root
    if (need === 'layout' && clusterLayout !== null) args[key] = clusterLayout
    if (need === 'cluster') args[key] = profile.node.clusterId
  }
  return args
}

/** Hosts that mean "every interface": fine to bind, useless to dial (a client would reach itself). */
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0'])

/** listen.tcp as the node reports it to others: an address they can dial, so never a wildcard. */
function reportedListen(profile: Profile, actor: ActorEntry): string {
  const { host, port } = profile.listen.tcp
  if (WILDCARD_HOSTS.has(host)) {
    throw new T3fsError('ERR_PROFILE', `listen.tcp of ${profile.file} is ${JSON.stringify(`${host}:${port}`)}; accepted: this machine's own address on the cluster network (e.g. "10.0.0.21:${port}"), not a wildcard — actor ${actor.name} reports it to mgmtd as the node's endpoint, which clients and \`t3fs admin\` dial`, {
      file: profile.file, actor: actor.name, key: 'listen.tcp', value: `${host}:${port}`,
    })
  }
  return `${host}:${port}`
}
