/**
 * The root directory's layout, which every file inherits: the cluster's ([bootstrap] of the node
 * that sets the cluster up, handed by `t3fs launch` as clusterLayout) unless the knob root_layout
 * is set, and the knob's default without either.
 */
import t from 'tap'
import type { Layout } from '../../../actors/meta/layout.ts'
import { DEFAULT_META_CONFIG } from '../../../actors/meta/config.ts'
import { harness } from './harness.ts'

const cluster: Layout = { tableId: 1, tableVersion: 0, chunkSizeBytes: 4 << 20, stripeSize: 4, chains: { kind: 'empty' } }
const knob: Layout = { tableId: 1, tableVersion: 0, chunkSizeBytes: 1 << 20, stripeSize: 2, chains: { kind: 'empty' } }

async function layouts(options: Parameters<typeof harness>[0]): Promise<{ root: Layout | undefined; file: Layout | undefined }> {
  const h = await harness(options)
  try {
    const c = h.client()
    const root = await h.settle(c.request({ type: 'stat', path: { path: '/' } }))
    await h.settle(c.request({ type: 'create', path: { path: '/f' }, flags: { access: 'write' }, perm: 0o644 }))
    const file = await h.settle(c.request({ type: 'stat', path: { path: '/f' } }))
    return { root: root.type === 'directory' ? root.dir.layout : undefined, file: file.type === 'file' ? file.file.layout : undefined }
  } finally {
    await h.close()
  }
}

t.test('the cluster\'s layout becomes the root\'s, and a new file takes its chunk size and stripe', async (t) => {
  const { root, file } = await layouts({ args: { clusterLayout: cluster } })
  t.same(root, cluster)
  t.equal(file?.chunkSizeBytes, cluster.chunkSizeBytes)
  t.equal(file?.stripeSize, cluster.stripeSize)
})

t.test('root_layout, when set, wins over the cluster\'s', async (t) => {
  const { root, file } = await layouts({ args: { clusterLayout: cluster }, config: { root_layout: knob } })
  t.same(root, knob)
  t.equal(file?.stripeSize, knob.stripeSize)
})

t.test('neither: the knob\'s default', async (t) => {
  const { root } = await layouts({})
  t.same(root, DEFAULT_META_CONFIG.rootLayout)
})
