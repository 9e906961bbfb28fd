// Build step (run by `npm run build`, hence by `npm ci` through `prepare`): makes the compiled CLI
// executable (npx runs the root package's bin in place, and tsc writes it 0644), copies the
// bootstrap template and the pacer next to the compiled generator, and bundles each Lambda handler
// with esbuild, so that `cdk synth` never bundles (and never needs Docker).
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
chmodSync(join(root, 'dist/bin/ses-relay.js'), 0o755);
mkdirSync(join(root, 'dist/lib/bootstrap'), { recursive: true });
for (const f of ['relay.sh', 'pacer.py'])
  copyFileSync(join(root, 'lib/bootstrap', f), join(root, 'dist/lib/bootstrap', f));

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
