#!/usr/bin/env node
// The idres command. The TypeScript sources are compiled to dist/ by `npm ci` / `npm run build`.
import { main } from '../dist/src/cli/main.js';

await main(process.argv);
