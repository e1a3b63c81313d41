import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { configJsonSchema } from './config-schema.js';
import { configMarkdown } from './config-docs.js';

// npm run schema: write deploy/idres.schema.json and docs/config.md from the declaration of the configuration
// (config-schema.ts). With --check, write nothing and fail if either file is not what it would write.

/** The checkout: the nearest folder above this file that holds package.json. */
export function repoRoot(from = path.dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The generated files, relative to the checkout, and what they hold. */
export function generatedFiles(): { file: string; text: string }[] {
  const schema = configJsonSchema();
  return [
    { file: 'deploy/idres.schema.json', text: JSON.stringify(schema, null, 2) + '\n' },
    { file: 'docs/config.md', text: configMarkdown(schema) },
  ];
}

function main(argv: string[]): number {
  const check = argv.includes('--check');
  const root = repoRoot();
  let stale = 0;
  for (const { file, text } of generatedFiles()) {
    const at = path.join(root, file);
    const now = existsSync(at) ? readFileSync(at, 'utf8') : undefined;
    if (now === text) continue;
    if (check) {
      console.error(`${file} is not current: run npm run schema`);
      stale++;
    } else {
      writeFileSync(at, text);
      console.log(`wrote ${file}`);
    }
  }
  return stale ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
