/**
 * freePort: ports below the kernel's ephemeral range, distinct, free to listen on; a port another
 * live process claimed is not handed out, the claim of one that exited is taken over.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { claimPort, freePort, PORT_CLAIMS } from './free-port.ts'

t.test('ports below the ephemeral range, distinct, and free to listen on', async (t) => {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
  const ports: number[] = []
  for (let i = 0; i < 30; i++) ports.push(await freePort())
  t.equal(new Set(ports).size, ports.length, 'no port handed out twice')
  t.ok(ports.every((p) => p >= 10_000 && p < ephemeralLow), `all in 10000-${ephemeralLow - 1}: ${ports.join(' ')}`)
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(ports[0], '127.0.0.1', () => resolve()))
  t.pass(`a node can listen on ${ports[0]}`)
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

t.test('a claim by a live process holds; a claim by one that exited is taken over', async (t) => {
  const port = await freePort() // claimed by this process: no other test's claim is overwritten below
  const file = join(PORT_CLAIMS, String(port))
  t.teardown(() => rmSync(file, { force: true }))
  const sleeper = spawn('sleep', ['30'])
  t.teardown(() => sleeper.kill())
  writeFileSync(file, String(sleeper.pid))
  t.equal(claimPort(port), false, 'held by a live process: not claimed')
  sleeper.kill()
  await new Promise((resolve) => sleeper.once('exit', resolve))
  t.equal(claimPort(port), true, 'its holder exited: claimed')
  t.equal(readFileSync(file, 'utf8'), String(process.pid), 'the claim names this process')
  t.equal(claimPort(port), false, 'and is not handed out twice')
})
