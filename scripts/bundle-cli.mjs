// Build step (run by `npm run build` after jsii has compiled lib/ and bin/ into dist/): bundles the
// CLI (bin/ses-relay.ts, lib/cli/ and the packages they use: commander, the AWS SDK clients) into
// one file, dist/bin/ses-relay.js, so that the package has no runtime dependencies (jsii requires
// each one to be a jsii module or bundled). The rest of lib/ stays out of the bundle: the CLI
// requires the compiled library beside it (dist/lib), whose generator reads the instance program
// from next to its own file, and which exists once either way.
import { chmodSync, existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { writeLicenses } from './licenses.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(root, 'dist/bin/ses-relay.js');
const lib = join(root, 'lib');
const bundled = [join(root, 'bin'), join(lib, 'cli')];

/** Imports of the library outside lib/cli are left to the compiled library in dist/lib. */
const compiledLibrary = {
  name: 'compiled-library',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      const source = join(args.resolveDir, args.path);
      if (!source.startsWith(lib + sep) || bundled.some((d) => source.startsWith(d + sep))) return undefined;
      const compiled = join(root, 'dist', relative(root, source));
      const found = [`${compiled}.js`, join(compiled, 'index.js')].find(existsSync);
      if (!found) return { errors: [{ text: `${relative(root, compiled)} is not compiled: run jsii first` }] };
      const path = relative(dirname(outfile), found).split(sep).join('/');
      return { path: path.startsWith('.') ? path : `./${path}`, external: true };
    });
  },
};

const { metafile } = await build({
  entryPoints: [join(root, 'bin/ses-relay.ts')],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20', // the package's engines
  format: 'cjs',
  minify: true,
  logLevel: 'warning',
  plugins: [compiledLibrary],
  metafile: true,
});
writeLicenses(root, metafile, outfile);
// npx runs the root package's bin in place: it must be executable.
chmodSync(outfile, 0o755);
