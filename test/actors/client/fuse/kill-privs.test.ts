/** What a write, truncate or chown drops of a file's mode when the mount kills privileges (kill-privs.ts). */
import t from 'tap'
import { killedPerm } from '../../../../actors/client/fuse/kill-privs.ts'

t.test('S_ISUID always drops, S_ISGID only with group execute, nothing else changes', async (t) => {
  t.equal(killedPerm(0o4755), 0o755)
  t.equal(killedPerm(0o6775), 0o775, 'both, the group may execute')
  t.equal(killedPerm(0o2765), null, 'S_ISGID without group execute (mandatory locking) stays')
  t.equal(killedPerm(0o6765), 0o2765)
  t.equal(killedPerm(0o1777), null, 'the sticky bit is not a privilege')
  t.equal(killedPerm(0o644), null, 'nothing to drop: no setattr')
})
