/** A mistake in what the user typed: printed as one line, exit status 2 (cli/main.ts). */
export class UsageError extends Error {
  override name = 'UsageError';
}
