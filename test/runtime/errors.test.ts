import t from 'tap'
import { T3fsError, fromWire, invalidOption, toT3fsError, isT3fsError } from '../../runtime/errors.ts'

t.test('a coded error survives the wire format', async (t) => {
  const original = new T3fsError('ERR_MAILBOX_FULL', 'mailbox of x is full', { capacity: 4 })
  const copy = fromWire(JSON.parse(JSON.stringify(original.toWire())))
  t.ok(isT3fsError(copy, 'ERR_MAILBOX_FULL'))
  t.equal(copy.message, original.message)
  t.same(copy.details, { capacity: 4 })
})

t.test('invalidOption names the option, the value and what is accepted', async (t) => {
  const error = invalidOption('mailboxMax', -1, 'an integer from 1 to 1048576')
  t.equal(error.code, 'ERR_INVALID_OPTION')
  t.match(error.message, /mailboxMax is -1; accepted: an integer from 1 to 1048576/)
})

t.test('toT3fsError keeps an existing code and wraps others', async (t) => {
  const errno = Object.assign(new Error('no such file'), { code: 'ENOENT' })
  t.equal(toT3fsError(errno).code, 'ENOENT')
  t.equal(toT3fsError('boom').code, 'ERR_INTERNAL')
})
