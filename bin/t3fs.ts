#!/usr/bin/env node
// The `t3fs` command. Installed, it runs compiled (dist/bin/t3fs.js) on plain node; in a checkout,
// bin/t3fs.mjs runs this same file from the TypeScript sources through tsx.
import { main } from './cli.ts'

process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr })
