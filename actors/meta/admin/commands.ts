/**
 * `t3fs admin` commands that inspect and change the namespace through a meta server (after 3FS's
 * admin_cli stat / ls / rmtree / list-sessions): functions over a MetaClient, testable in-process;
 * the CLI (actors/mgmtd/admin/cli.ts) connects, runs one, and prints a table or JSON.
 */
import { parseArgs } from 'node:util'
import { T3fsError } from '../../../runtime/errors.ts'
import { DURATION_ACCEPTED, parseDurationMs } from '../../../runtime/profile/units.ts'
import { modeOf, type Inode } from '../inode.ts'
import type { MetaClient } from '../meta-client.ts'
import type { ListEntry } from '../protocol.ts'

export const META_USAGE_ERROR = 'ERR_ADMIN_USAGE'

export type Cell = string | number | null
export type MetaAdminResult = { kind: 'table'; columns: string[]; rows: Cell[][]; json: unknown } | { kind: 'message'; text: string; json: unknown }

type ArgSpec = NonNullable<Parameters<typeof parseArgs>[0]>['options']

export interface MetaAdminEnv {
  readonly client: MetaClient
}

export interface MetaAdminCommand {
  readonly name: string
  readonly usage: string
  readonly summary: string
  readonly options: ArgSpec
  readonly positionals: readonly [number, number]
  run(positionals: string[], values: Readonly<Record<string, string | boolean | undefined>>, env: MetaAdminEnv): Promise<MetaAdminResult>
}

const usage = (message: string): T3fsError => new T3fsError(META_USAGE_ERROR, message, {})

/** Entries `ls` prints at most (pages of the list request). */
export const LS_MAX_ENTRIES = 100_000
/** rm-rf into the trash keeps the tree this long unless told otherwise (3FS's rmtree choices go to 7d). */
export const DEFAULT_TRASH_EXPIRE = '24h'

function absolute(path: string | undefined): string {
  if (path === undefined || !path.startsWith('/')) throw usage(`path ${JSON.stringify(path ?? '')} is not accepted; accepted: an absolute path in the file system (starting with /)`)
  return path
}

const typeChar = (i: { type: string }): string => (i.type === 'directory' ? 'd' : i.type === 'symlink' ? 'l' : '-')
const modeText = (inode: Inode): string => `${typeChar(inode)}${(modeOf(inode) & 0o7777).toString(8).padStart(4, '0')}`
const lengthOf = (inode: Inode): number | null => (inode.type === 'file' ? inode.file.length : null)
const iso = (ms: number): string => new Date(ms).toISOString()

export const META_COMMANDS: readonly MetaAdminCommand[] = [
  {
    name: 'stat',
    usage: 'stat <path> [--no-follow]',
    summary: 'an inode of the file system: id, type, mode, owner, links, length, times, layout',
    options: { 'no-follow': { type: 'boolean' } },
    positionals: [1, 1],
    async run([path], values, env) {
      const inode = await env.client.request({ type: 'stat', path: { path: absolute(path) }, follow: values['no-follow'] !== true })
      const layout = inode.type === 'file' ? inode.file.layout : inode.type === 'directory' ? inode.dir.layout : null
      const rows: Cell[][] = [
        ['Inode', inode.id], ['Type', inode.type], ['Mode', modeText(inode)], ['Uid', inode.acl.uid], ['Gid', inode.acl.gid], ['Nlink', inode.nlink],
        ['Length', lengthOf(inode)], ['Mtime', iso(inode.mtimeMs)], ['Ctime', iso(inode.ctimeMs)],
        ['Layout', layout === null ? null : `table ${layout.tableId} v${layout.tableVersion}, chunk ${layout.chunkSizeBytes}, stripe ${layout.stripeSize}, chains ${layout.chains.kind}`],
        ...(inode.type === 'symlink' ? [['Target', inode.symlink.target] as Cell[]] : []),
      ]
      return { kind: 'table', columns: ['Field', 'Value'], rows, json: inode }
    },
  },
  {
    name: 'ls',
    usage: 'ls <path>',
    summary: 'the entries of a directory with their inodes (all pages)',
    options: {},
    positionals: [1, 1],
    async run([path], _values, env) {
      const dir = absolute(path)
      const rows: Cell[][] = []
      const json: { entry: ListEntry; inode: Inode | null }[] = []
      let prev: string | undefined
      for (;;) {
        const page = await env.client.request({ type: 'list', path: { path: dir }, status: true, limit: 1024, ...(prev === undefined ? {} : { prev }) })
        page.entries.forEach((e, i) => {
          const inode = page.inodes?.[i] ?? null
          json.push({ entry: e, inode })
          rows.push([inode === null ? typeChar(e) : modeText(inode), e.id, inode?.acl.uid ?? null, inode?.acl.gid ?? null, inode === null ? null : lengthOf(inode), inode === null ? null : iso(inode.mtimeMs), e.name])
        })
        if (!page.more || page.entries.length === 0 || rows.length >= LS_MAX_ENTRIES) break
        prev = page.entries[page.entries.length - 1].name
      }
      return { kind: 'table', columns: ['Mode', 'Inode', 'Uid', 'Gid', 'Length', 'Mtime', 'Name'], rows, json }
    },
  },
  {
    name: 'rm-rf',
    usage: 'rm-rf <path> [--expire DURATION]',
    summary: `move a tree into the trash (/trash/<uid>/<expiry>-<name>); the trash cleaner removes it after --expire (default ${DEFAULT_TRASH_EXPIRE})`,
    options: { expire: { type: 'string' } },
    positionals: [1, 1],
    async run([path], values, env) {
      const given = (values.expire as string | undefined) ?? DEFAULT_TRASH_EXPIRE
      const expireMs = parseDurationMs(given)
      if (expireMs === undefined) throw usage(`--expire ${JSON.stringify(given)} is not accepted; accepted: ${DURATION_ACCEPTED}`)
      const moved = await env.client.request({ type: 'move-to-trash', path: { path: absolute(path) }, expireMs })
      return { kind: 'message', text: `${path} moved to ${moved.path}; removed after ${iso(moved.expiresAtMs)}`, json: moved }
    },
  },
  {
    name: 'list-sessions',
    usage: 'list-sessions [--inode N] [--client ID] [--limit N]',
    summary: 'write sessions of open files (admin token needed)',
    options: { inode: { type: 'string' }, client: { type: 'string' }, limit: { type: 'string' } },
    positionals: [0, 0],
    async run(_p, values, env) {
      const int = (name: string): number | undefined => {
        const v = values[name] as string | undefined
        if (v === undefined) return undefined
        if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) throw usage(`--${name} ${JSON.stringify(v)} is not accepted; accepted: a non-negative integer`)
        return Number(v)
      }
      const inode = int('inode')
      const limit = int('limit')
      const client = values.client as string | undefined
      const sessions = await env.client.request({ type: 'list-sessions', ...(inode === undefined ? {} : { inode }), ...(client === undefined ? {} : { client }), ...(limit === undefined ? {} : { limit }) })
      return { kind: 'table', columns: ['Inode', 'Session', 'Client', 'Created'], rows: sessions.map((s) => [s.inode, s.sessionId, s.clientId, iso(s.createdMs)]), json: sessions }
    },
  },
]
