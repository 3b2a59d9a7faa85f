#!/usr/bin/env node
// Installed as `cortex-rollback`: loads the TypeScript CLI through tsx (no build step).
import { register } from 'tsx/esm/api';
register();
const { run } = await import('./cli.ts');
process.exit(await run(process.argv.slice(2)));
