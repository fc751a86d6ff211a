#!/usr/bin/env node
// The `t3fs` command. TypeScript runs through tsx (Node 20 cannot strip types itself).
import { register } from 'tsx/esm/api'

register()
const { main } = await import('./cli.ts')
process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr })
