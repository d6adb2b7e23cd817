// Module hooks that let a plain `node` child process run this repo's TypeScript sources:
// `.js` specifiers fall back to the `.ts` file beside them (NodeNext style), and `.ts` files are
// transpiled with the TypeScript compiler the project already has, and the library's package
// names ('udsbus', 'udsbus/core', ...) resolve to its sources (bus/*.ts) rather than to dist/, as
// they do under vitest. Tests only; no type checking.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const pkgUrl = new URL('../../package.json', import.meta.url);
const pkg = JSON.parse(readFileSync(pkgUrl, 'utf8'));
const SOURCES = new Map(
  Object.entries(pkg.exports)
    .filter(([, target]) => typeof target === 'object')
    .map(([sub, target]) => [
      sub === '.' ? pkg.name : `${pkg.name}/${sub.slice(2)}`,
      new URL(target.default.replace(/^\.\/dist\//, './').replace(/\.js$/, '.ts'), pkgUrl).href,
    ]),
);

export async function resolve(specifier, context, next) {
  const source = SOURCES.get(specifier);
  if (source !== undefined) return { url: source, shortCircuit: true };
  try {
    return await next(specifier, context);
  } catch (err) {
    const relative = specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:');
    if (relative && specifier.endsWith('.js')) return next(`${specifier.slice(0, -3)}.ts`, context);
    throw err;
  }
}

export async function load(url, context, next) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return next(url, context);
  const fileName = fileURLToPath(url);
  const { outputText } = ts.transpileModule(await readFile(fileName, 'utf8'), {
    fileName,
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: true,
      sourceMap: false,
    },
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
