import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

// Compiled tests live in dist/test/…; the repository root is two levels up from dist/test/helpers.
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

export function golden(name: string): Buffer {
  return readFileSync(path.join(repoRoot, 'test/vectors/handle-golden', name));
}

export const cliPath = path.join(repoRoot, 'bin/idres.js');
