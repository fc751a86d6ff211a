import t from 'tap'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import { loadProfile, parseProfile } from '../../../runtime/profile/index.ts'
import { isT3fsError } from '../../../runtime/errors.ts'

const repo = fileURLToPath(new URL('../../../', import.meta.url))
const file = join(repo, 'test-profile.toml')
const MINIMAL = '[node]\nid = 7\n[listen]\ntcp = "127.0.0.1:9000"\n'

function profileError(text: string): { key: string; message: string } {
  try {
    parseProfile(text, file)
  } catch (error) {
    if (isT3fsError(error, 'ERR_PROFILE')) return { key: String(error.details.key), message: error.message }
    throw error
  }
  throw new Error('expected ERR_PROFILE, nothing was thrown')
}

t.test('[metrics] and [dashboard] are off unless enabled; configs/dev.toml turns both on', async (t) => {
  const p = parseProfile(MINIMAL, file)
  t.equal(p.metrics, null)
  t.equal(p.dashboard, null)
  const on = parseProfile(`${MINIMAL}[metrics]\nenabled = true\n[dashboard]\nenabled = true\nrefresh_interval = "250ms"\n`, file)
  t.same(on.metrics, { listen: { host: '127.0.0.1', port: 9100 } })
  t.same(on.dashboard, { listen: { host: '127.0.0.1', port: 9180 }, mgmtdNode: 7, refreshIntervalMs: 250, historyMs: 300_000 }, 'the dashboard asks its own node\'s mgmtd by default')
  const dev = loadProfile(join(repo, 'configs/dev.toml'))
  t.ok(dev.metrics !== null && dev.dashboard !== null)
})

t.test('bad [metrics] and [dashboard] values name the key, the value and what is accepted', async (t) => {
  const bad = [
    { text: '[metrics]\nenabled = "yes"\n', key: 'metrics.enabled', accepted: 'true or false' },
    { text: '[metrics]\nenabled = true\nlisten = "localhost"\n', key: 'metrics.listen', accepted: 'host:port' },
    { text: '[metrics]\nenabled = true\nlisten = "127.0.0.1:9000"\n', key: 'metrics.listen', accepted: "listen.tcp's" },
    { text: '[metrics]\nenabled = true\nlisten = "127.0.0.1:9200"\n[dashboard]\nenabled = true\nlisten = "127.0.0.1:9200"\n', key: 'dashboard.listen', accepted: "metrics.listen's" },
    { text: '[dashboard]\nrefresh_interval = "5ms"\n', key: 'dashboard.refresh_interval', accepted: 'from 100ms' },
    { text: '[dashboard]\nenabled = true\nrefresh_interval = "10s"\nhistory = "2s"\n', key: 'dashboard.history', accepted: 'at least dashboard.refresh_interval' },
    { text: '[dashboard]\nmgmtd_node = 0\n', key: 'dashboard.mgmtd_node', accepted: 'from 1 to 65535' },
    { text: '[dashboard]\nport = 80\n', key: 'dashboard.port', accepted: 'enabled, listen, mgmtd_node' },
  ]
  for (const b of bad) {
    const e = profileError(`${MINIMAL}${b.text}`)
    t.equal(e.key, b.key, b.text)
    t.match(e.message, b.accepted)
  }
  t.doesNotThrow(() => parseProfile(`${MINIMAL}[metrics]\nenabled = true\nlisten = "127.0.0.1:0"\n[dashboard]\nenabled = true\nlisten = "127.0.0.1:0"\n`, file), 'port 0 twice: each picks a free port')
})
