// Build step (run by `npm run build`, hence by `npm ci` through `prepare`): copies the instance
// program (lib/bootstrap/instance) next to the compiled generator, and bundles each Lambda handler
// with esbuild, so that `cdk synth` never bundles (and never needs Docker).
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
cpSync(join(root, 'lib/bootstrap/instance'), join(root, 'dist/lib/bootstrap/instance'), { recursive: true });

const handlers = join(root, 'lib/handlers');
for (const name of existsSync(handlers) ? readdirSync(handlers) : []) {
  buildSync({
    entryPoints: [join(handlers, name, 'index.ts')],
    outfile: join(root, 'dist/handlers', name, 'index.js'),
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
}
