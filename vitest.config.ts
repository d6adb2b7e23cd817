import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Code outside bus/ imports the library by its package name ('udsbus', 'udsbus/core', ...), which
// Node resolves to dist/ through the package's own `exports`. Under vitest those names map to the
// TypeScript sources instead, so a test that imports '../bus/index.js' and the CLI code it drives
// share one module instance (one Client class for instanceof, one error-code table).
const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as {
  name: string;
  exports: Record<string, string | { default: string }>;
};
const alias = Object.entries(pkg.exports).flatMap(([sub, target]) => {
  if (typeof target === 'string') return [];
  const source = target.default.replace(/^\.\/dist\//, './').replace(/\.js$/, '.ts');
  const name = sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`;
  return [{ find: new RegExp(`^${name.replace(/[/.]/g, '\\$&')}$`), replacement: fileURLToPath(new URL(source, import.meta.url)) }];
});

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests start real brokers and child processes; two cores do not like a dozen at once.
    maxWorkers: 2,
    pool: 'forks',
  },
});
