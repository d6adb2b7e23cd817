// `node --import ./register-ts.mjs file.ts` runs TypeScript through ts-loader.mjs.
import { register } from 'node:module';

register('./ts-loader.mjs', import.meta.url);
