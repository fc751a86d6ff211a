// The t3fs dashboard page: polls /api/state (bin/dashboard/sampler.ts) and redraws tables and
// inline SVG graphs in place. No framework, no build step.
'use strict'

const $ = (id) => document.getElementById(id)
const esc = (value) => String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c])

function bytes(n) {
  if (n === undefined || n === null) return '–'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
}
const rate = (n) => (n === undefined || n === null ? '–' : `${bytes(n)}/s`)
const count = (n) => (n === undefined || n === null ? '–' : n >= 100 ? Math.round(n).toLocaleString() : n.toFixed(1))
const ms = (n) => (n === null || n === undefined ? '–' : n < 1 ? `${(n * 1000).toFixed(0)} µs` : `${n.toFixed(1)} ms`)
const badge = (state) => `<span class="state state-${esc(state)}">${esc(state)}</span>`

// ---- graphs -----------------------------------------------------------------------------------

const colors = ['#2f6fdb', '#1f9d55', '#d1334a', '#c7871a', '#8a4fd1']
const H = 150
const PAD = { left: 64, right: 8, top: 8, bottom: 18 }

/** A line chart of several series over the sample times, drawn as an inline SVG. */
function chart(el, title, times, lines, format) {
  // Drawn at the figure's own width, so text keeps its proportions.
  const W = Math.max(280, el.clientWidth - 26)
  const values = lines.flatMap((l) => l.values.filter((v) => v !== null))
  const max = Math.max(1e-9, ...values) * 1.1
  const t0 = times[0] ?? 0
  const t1 = Math.max(t0 + 1, times[times.length - 1] ?? 1)
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * (W - PAD.left - PAD.right)
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom)
  const grid = [0, 0.5, 1].map((f) => {
    const v = (max / 1.1) * f
    return `<line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e2e5ea"/>` +
      `<text x="${PAD.left - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#6b7385">${esc(format(v))}</text>`
  }).join('')
  const paths = lines.map((l, i) => {
    let d = ''
    let pen = false
    l.values.forEach((v, k) => {
      if (v === null) { pen = false; return }
      d += `${pen ? 'L' : 'M'}${x(times[k]).toFixed(1)},${y(v).toFixed(1)}`
      pen = true
    })
    return `<path d="${d}" fill="none" stroke="${colors[i % colors.length]}" stroke-width="2" stroke-linejoin="round"/>`
  }).join('')
  const span = times.length > 1 ? `${Math.round((t1 - t0) / 1000)} s` : 'waiting for samples'
  const axis = `<text x="${W - PAD.right}" y="${H - 4}" text-anchor="end" font-size="11" fill="#6b7385">last ${esc(span)}</text>`
  const legend = lines.map((l, i) => {
    const last = [...l.values].reverse().find((v) => v !== null)
    return `<span><i style="background:${colors[i % colors.length]}"></i>${esc(l.name)} ${esc(last === undefined ? '–' : format(last))}</span>`
  }).join('')
  el.innerHTML = `<figcaption>${esc(title)}<span class="legend">${legend}</span></figcaption>` +
    `<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">${grid}${paths}${axis}</svg>`
}

function renderGraphs(state) {
  const s = state.series
  const t = state.times
  // Bytes a node serves to a peer's one-sided read count on the reader ("received"), not as sent.
  chart($('graph-net'), 'Network', t, [{ name: 'received', values: s.netReceivedBytesPerS }, { name: 'sent (frames)', values: s.netSentBytesPerS }], rate)
  chart($('graph-disk'), 'Disk', t, [{ name: 'read', values: s.diskReadBytesPerS }, { name: 'write', values: s.diskWriteBytesPerS }], rate)
  chart($('graph-ops'), 'Operations per second', t, [
    { name: 'messages', values: s.messagesPerS }, { name: 'chunk ops', values: s.storageOpsPerS }, { name: 'meta ops', values: s.metaOpsPerS },
  ], count)
  chart($('graph-latency'), 'Latency', t, [
    { name: 'disk p50', values: s.diskP50Ms }, { name: 'disk p99', values: s.diskP99Ms },
    { name: 'chunk p99', values: s.storageP99Ms }, { name: 'meta p99', values: s.metaP99Ms },
  ], ms)
}

// ---- tables -----------------------------------------------------------------------------------

function renderCards(state) {
  const r = state.routing
  const targets = r ? r.targets : []
  const serving = targets.filter((t) => t.publicState === 'SERVING').length
  const chainsOk = r ? r.chains.filter((c) => c.targets.every((t) => t.publicState === 'SERVING')).length : 0
  const nodesUp = r ? r.nodes.filter((n) => n.status !== 'HEARTBEAT_FAILED' && n.status !== 'DISABLED').length : 0
  const last = (name) => { const v = state.series[name]; return v.length ? v[v.length - 1] : null }
  const cards = [
    ['nodes up', r ? `${nodesUp} / ${r.nodes.length}` : '–'],
    ['chains fully serving', r ? `${chainsOk} / ${r.chains.length}` : '–'],
    ['targets serving', r ? `${serving} / ${targets.length}` : '–'],
    ['network received', rate(last('netReceivedBytesPerS'))],
    ['disk write', rate(last('diskWriteBytesPerS'))],
    ['routing version', r ? r.routingInfoVersion : '–'],
  ]
  $('cards').innerHTML = cards.map(([label, value]) => `<div class="card"><div class="value">${esc(value)}</div><div class="label">${esc(label)}</div></div>`).join('')
}

function renderNodes(state) {
  const info = new Map((state.routing ? state.routing.nodes : []).map((n) => [n.nodeId, n]))
  const rows = new Map(state.nodes.map((n) => [n.node, n]))
  const ids = [...new Set([...info.keys(), ...rows.keys()])].sort((a, b) => a - b)
  $('nodes').tBodies[0].innerHTML = ids.map((id) => {
    const n = info.get(id)
    const m = rows.get(id) || {}
    const metrics = m.error ? `<td colspan="8" class="muted">metrics: ${esc(m.error)}</td>` :
      `<td class="num">${count(m.messagesPerS)}</td><td class="num">${rate(m.netSentBytesPerS)}</td><td class="num">${rate(m.netReceivedBytesPerS)}</td>` +
      `<td class="num">${rate(m.diskReadBytesPerS)}</td><td class="num">${rate(m.diskWriteBytesPerS)}</td><td class="num">${m.actors ?? '–'}</td>` +
      `<td class="num">${m.mailboxDepth ?? '–'}</td><td class="num">${m.poolSlots ? `${m.poolSlotsInUse} / ${m.poolSlots}` : '–'}</td>`
    return `<tr data-node="${id}"><td>${id}${id === state.node ? ' <span class="muted">(this)</span>' : ''}</td>` +
      `<td>${esc(n ? n.type : '–')}</td><td class="status">${n ? badge(n.status) : '<span class="muted">not in mgmtd</span>'}</td>` +
      `<td>${esc(n && n.endpoint ? n.endpoint : '–')}</td>${metrics}</tr>`
  }).join('')
}

function renderChains(state) {
  const chains = state.routing ? state.routing.chains : []
  $('chains').tBodies[0].innerHTML = chains.map((c) =>
    `<tr data-chain="${c.chainId}"><td>${c.chainId}</td><td class="num">${c.chainVersion}</td>` +
    `<td>${c.targets.map((t) => `<span data-target="${t.targetId}">${t.targetId} ${badge(t.publicState)}</span>`).join(' ')}</td></tr>`,
  ).join('') || '<tr><td colspan="3" class="muted">no chains</td></tr>'
}

function renderTargets(state) {
  const targets = state.routing ? [...state.routing.targets].sort((a, b) => a.targetId - b.targetId) : []
  $('targets').tBodies[0].innerHTML = targets.map((t) => {
    const p = t.syncProgress
    const sync = p ? `<span class="bar"><i style="width:${p.totalChunks ? Math.round((100 * p.doneChunks) / p.totalChunks) : 0}%"></i></span>` +
      `${p.doneChunks} / ${p.totalChunks} chunks, ${p.copiedChunks} copied (${bytes(p.copiedBytes)})` : '–'
    return `<tr data-target="${t.targetId}"><td>${t.targetId}</td><td>${t.chainId}</td><td>${t.nodeId ?? '–'}</td>` +
      `<td class="state-cell">${badge(t.publicState)}</td><td>${badge(t.localState)}</td><td class="num">${bytes(t.usedSizeBytes)}</td><td>${sync}</td></tr>`
  }).join('') || '<tr><td colspan="7" class="muted">no targets</td></tr>'
}

function renderReplacements(state) {
  const list = state.routing ? state.routing.replacements : []
  const targets = new Map((state.routing ? state.routing.targets : []).map((t) => [t.targetId, t]))
  $('replacements').innerHTML = list.map((r) => {
    const spare = targets.get(r.spareTargetId)
    return `<li>chain ${r.chainId}: target ${r.deadTargetId} replaced by spare ${r.spareTargetId}` +
      ` ${spare ? badge(spare.publicState) : ''}</li>`
  }).join('') || '<li class="muted">none under way</li>'
}

function renderSmallpond(state) {
  const tasks = Object.entries(state.smallpond.tasks)
  $('smallpond').textContent = tasks.length === 0 && state.smallpond.running === 0
    ? 'no smallpond tasks reported by these nodes'
    : `${state.smallpond.running} running; ${tasks.map(([k, v]) => `${v} ${k}`).join(', ')}`
}

// ---- polling ----------------------------------------------------------------------------------

let refreshMs = 1000

function render(state) {
  refreshMs = state.refreshIntervalMs
  $('cluster-id').textContent = `cluster ${state.clusterId} · dashboard on node ${state.node}`
  const error = $('routing-error')
  error.hidden = state.routingError === null
  error.textContent = state.routingError ?? ''
  renderCards(state)
  renderGraphs(state)
  renderNodes(state)
  renderChains(state)
  renderTargets(state)
  renderReplacements(state)
  renderSmallpond(state)
  $('updated').textContent = state.updatedMs ? `updated ${new Date(state.updatedMs).toLocaleTimeString()}` : ''
  document.body.dataset.updated = String(state.updatedMs)
}

async function poll() {
  try {
    const response = await fetch('/api/state', { cache: 'no-store' })
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    render(await response.json())
    $('live').className = 'pill pill-live'
    $('live').textContent = 'live'
  } catch (error) {
    $('live').className = 'pill pill-down'
    $('live').textContent = `disconnected (${error.message})`
  } finally {
    setTimeout(poll, refreshMs)
  }
}

poll()
