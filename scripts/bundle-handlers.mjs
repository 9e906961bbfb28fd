// Build step (run by `npm run build`, hence by `npm ci` through `prepare`): bundles each Lambda
// handler with esbuild for the runtime it runs on, so that `cdk synth` never bundles (and never
// needs Docker); the licences of the code it carries go beside it.
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';
import { writeLicenses } from './licenses.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const handlers = join(root, 'lib/handlers');
for (const name of existsSync(handlers) ? readdirSync(handlers) : []) {
  const outfile = join(root, 'dist/handlers', name, 'index.js');
  const { metafile } = buildSync({
    entryPoints: [join(handlers, name, 'index.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
  });
  writeLicenses(root, metafile, outfile);
}
