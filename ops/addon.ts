/**
 * The native addon udsbus-peercred, loaded the way the library loads it: it is an optional
 * dependency of the `udsbus` package, not of this one, so it is resolved from where `udsbus` is
 * installed (a checkout resolves 'udsbus' to itself). Throws what require throws when it is absent.
 */
import { createRequire } from 'node:module';

export function requireAddon(): unknown {
  const library = createRequire(import.meta.url).resolve('udsbus/package.json');
  return createRequire(library)('udsbus-peercred');
}
