#!/usr/bin/env node
// The `t3fs` command from the TypeScript sources (a checkout: tests, development). TypeScript runs
// through tsx, as Node 20 cannot strip types itself. The installed command is dist/bin/t3fs.js.
import { register } from 'tsx/esm/api'

register()
await import('./t3fs.ts')
