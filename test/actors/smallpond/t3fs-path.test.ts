/** `t3fs://` paths resolve to the mount of the named cluster; no mount or a bad URL is a coded error. */
import t from 'tap'
import { resolveT3fsPath, t3fsMounts } from '../../../actors/smallpond/t3fs-path.ts'

const mountinfo = [
  '22 1 0:21 / /proc rw,nosuid - proc proc rw',
  '90 28 0:52 / /tmp/t3fs-dev-AB/mnt rw,nosuid,nodev,relatime shared:50 - fuse.t3fs t3fs.t3fs rw,user_id=0,group_id=0',
  '91 28 0:53 / /mnt/with\\040space rw,nosuid - fuse.t3fs t3fs.prod rw,user_id=0',
  '92 28 0:54 / /mnt/bind rw - fuse.bindfs bindfs rw',
].join('\n')

t.test('mounts of t3fs clusters are read from mountinfo', async (t) => {
  t.same(t3fsMounts(mountinfo), [
    { clusterId: 't3fs', mountPoint: '/tmp/t3fs-dev-AB/mnt' },
    { clusterId: 'prod', mountPoint: '/mnt/with space' },
  ])
})

t.test('t3fs:// paths resolve under the mount of their cluster', async (t) => {
  const mounts = t3fsMounts(mountinfo)
  t.equal(resolveT3fsPath('t3fs://t3fs/sp/data', mounts, 'dataRoot'), '/tmp/t3fs-dev-AB/mnt/sp/data')
  t.equal(resolveT3fsPath('t3fs://prod/x/*.parquet', mounts, 'paths'), '/mnt/with space/x/*.parquet')
  t.equal(resolveT3fsPath('t3fs://prod', mounts, 'dataRoot'), '/mnt/with space')
  t.equal(resolveT3fsPath('/plain/path', mounts, 'dataRoot'), '/plain/path', 'plain paths as they are')
  t.equal(resolveT3fsPath('t3fs:///only', mounts.slice(0, 1), 'dataRoot'), '/tmp/t3fs-dev-AB/mnt/only', 'no cluster: the only one mounted')
})

t.test('no mount of the cluster, an ambiguous or a bad URL: coded errors naming the field', async (t) => {
  const mounts = t3fsMounts(mountinfo)
  t.throws(() => resolveT3fsPath('t3fs://nosuch/a', mounts, 'dataRoot'),
    { code: 'ERR_SMALLPOND_T3FS_NOT_MOUNTED', message: /dataRoot is "t3fs:\/\/nosuch\/a": no t3fs mount of cluster "nosuch".*t3fs\.t3fs at \/tmp\/t3fs-dev-AB\/mnt/ })
  t.throws(() => resolveT3fsPath('t3fs:///a', mounts, 'dataRoot'), { code: 'ERR_SMALLPOND_T3FS_NOT_MOUNTED', message: /several t3fs clusters/ })
  t.throws(() => resolveT3fsPath('t3fs:///a', [], 'paths[0]'), { code: 'ERR_SMALLPOND_T3FS_NOT_MOUNTED', message: /paths\[0\].*mounts: none/ })
  t.throws(() => resolveT3fsPath('t3fs://bad cluster?/x', mounts, 'dataRoot'), { code: 'ERR_SMALLPOND_T3FS_URL', message: /dataRoot.*cluster id/ })
  t.equal(resolveT3fsPath('t3fs://t3fs/../../etc', mounts, 'dataRoot'), '/tmp/t3fs-dev-AB/mnt/etc', '".." stays inside the mount')
})
