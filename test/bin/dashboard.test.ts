/**
 * The dashboard in a real headless Chromium (Debian's, driven by playwright-core) against real
 * `t3fs launch` processes: mgmtd with [dashboard] on and two storage nodes in two chains. The page
 * shows the nodes and chains mgmtd knows, its graphs get samples as chunks are written, it follows
 * a storage node's death (its targets turn OFFLINE) without a reload, and its screenshot is not
 * blank (decoded PNG: many colours, varied luminance).
 */
import t from 'tap'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { makeChunkId } from '../../actors/storage/chunk-id.ts'
import { freePort } from '../support/free-port.ts'
import { decodePng, pixelStats } from '../support/png.ts'
import { startProcessCluster } from '../support/storage-processes.ts'

const chromiumPath = '/usr/bin/chromium'
if (!existsSync(chromiumPath)) {
  t.test('dashboard in headless Chromium', { skip: `${chromiumPath} is missing (Debian package chromium; .ci/run installs it)` }, () => {})
} else {
  await dashboardTests()
}

async function dashboardTests(): Promise<void> {
  const { chromium } = await import('playwright-core')
  const port = await freePort()
  const cluster = await startProcessCluster({
    storageNodes: 2, chains: 2, chunkSizeBytes: 64 * 1024,
    nodeToml: (id) => (id === 1 ? `[dashboard]\nenabled = true\nlisten = "127.0.0.1:${port}"\nrefresh_interval = "300ms"\nhistory = "1min"` : ''),
  })
  const profileDir = mkdtempSync(join(tmpdir(), 't3fs-chromium-'))
  t.teardown(async () => {
    await cluster.close()
    rmSync(profileDir, { recursive: true, force: true })
  })
  // The machine's network is closed: these flags keep Chromium from reaching out at start.
  const browser = await Promise.all([
    cluster.allServing(60_000),
    chromium.launchPersistentContext(profileDir, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    }),
  ]).then(([, context]) => context, async (error: unknown) => {
    await cluster.close()
    throw error
  })
  t.teardown(() => browser.close())
  const page = browser.pages()[0] ?? await browser.newPage()
  const url = `http://127.0.0.1:${port}/`
  const [dead] = cluster.storageNodeIds.slice(-1)
  const deadTargets = cluster.chains.flatMap((c) => c.targets).filter((target) => Math.floor(target / 100) === cluster.storageNodeIds.length)

  await t.test('the page shows the nodes and chains of mgmtd', async (t) => {
    await page.goto(url)
    await page.waitForSelector('#live.pill-live', { timeout: 15_000 })
    for (const node of [1, ...cluster.storageNodeIds]) {
      await page.waitForSelector(`#nodes tr[data-node="${node}"]`, { timeout: 15_000 })
    }
    t.match(await page.textContent(`#nodes tr[data-node="1"] td.status`), /PRIMARY_MGMTD/)
    for (const chain of cluster.chains) {
      const selector = `#chains tr[data-chain="${chain.chainId}"]`
      await page.waitForSelector(selector, { timeout: 15_000 })
      // A target may still be syncing right after the cluster started, or be demoted and resync
      // when a heartbeat lapses on a loaded machine: the page follows it. Asserted on the one
      // rendering where every target of the chain shows SERVING.
      const shown = await (await page.waitForFunction(`(() => {
        const spans = [...(document.querySelector(${JSON.stringify(selector)})?.querySelectorAll('span[data-target]') ?? [])]
        const shown = Object.fromEntries(spans.map((span) => [span.dataset.target, span.textContent]))
        return ${JSON.stringify(chain.targets)}.every((target) => /SERVING/.test(shown[target] ?? '')) ? shown : false
      })()`, undefined, { timeout: 60_000 })).jsonValue() as Record<string, string>
      for (const target of chain.targets) {
        t.match(shown[target], new RegExp(`^${target} SERVING$`), `chain ${chain.chainId} lists target ${target} SERVING`)
      }
    }
    t.equal(await page.locator('#targets tbody tr[data-target]').count(), cluster.chains.flatMap((c) => c.targets).length)
  })

  await t.test('graphs get samples from the nodes\' metrics as chunks are written', async (t) => {
    const client = cluster.storageClient()
    for (let i = 0; i < 8; i++) {
      await client.ask({ type: 'write', chainId: 1 + (i % 2), chunkId: makeChunkId(7n, i), offset: 0, data: new Uint8Array(64 * 1024).fill(i), chunkSizeBytes: 64 * 1024 }, { timeoutMs: 20_000 })
    }
    // The sampler rates the disk writes of the storage nodes: some sample shows them.
    // Polled from here: waitForFunction takes an async predicate's promise itself as truthy.
    let sawWrites = false
    for (let polls = 0; polls < 50 && !sawWrites; polls++) {
      sawWrites = await page.evaluate(async () => {
        const state = await (await fetch('/api/state')).json() as { series: { diskWriteBytesPerS: (number | null)[] } }
        return state.series.diskWriteBytesPerS.some((v) => v !== null && v > 0)
      })
      if (!sawWrites) await new Promise((resolve) => setTimeout(resolve, 300))
    }
    t.ok(sawWrites, 'disk writes showed in the series')
    const path = await page.getAttribute('#graph-disk svg path', 'd')
    t.ok(path !== null && path.split('L').length > 2, 'the disk graph has a line')
  })

  await t.test('a storage node dies: its targets turn OFFLINE on the page without a reload', async (t) => {
    await page.evaluate('window.sameDocument = true')
    const updatedBefore = Number(await page.getAttribute('body', 'data-updated'))
    cluster.kill(dead)
    for (const target of deadTargets) {
      await page.waitForFunction(`document.querySelector('#targets tr[data-target="${target}"] td.state-cell')?.textContent.includes('OFFLINE') === true`, undefined, { timeout: 30_000, polling: 250 })
      t.pass(`target ${target} shows OFFLINE`)
    }
    t.match(await page.textContent(`#nodes tr[data-node="${dead}"] td.status`), /HEARTBEAT_FAILED/)
    t.equal(await page.evaluate('window.sameDocument'), true, 'the page was not reloaded')
    t.ok(Number(await page.getAttribute('body', 'data-updated')) > updatedBefore, 'the page kept updating')
  })

  await t.test('a screenshot of the page is not blank', async (t) => {
    const png = await page.screenshot({ fullPage: true })
    const image = decodePng(png)
    const stats = pixelStats(image)
    t.ok(image.width >= 1000 && image.height >= 600, `screenshot ${image.width}×${image.height}`)
    t.ok(stats.colors > 50, `${stats.colors} distinct colours`)
    t.ok(stats.luminanceStdDev > 10, `luminance standard deviation ${stats.luminanceStdDev.toFixed(1)}`)
  })
}
