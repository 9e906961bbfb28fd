// Where the prebuilt Lambda bundles live (dist/handlers, made by `npm run build`, which `npm ci`
// runs through `prepare`): synth never bundles and never needs Docker.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

function packageRoot(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('ses-relay: cannot find the package root');
    dir = parent;
  }
  return dir;
}

/** The folder of a handler's bundle; throws with the fix when it has not been built. */
export function handlerAssetPath(name: string): string {
  const path = join(packageRoot(), 'dist', 'handlers', name);
  if (!existsSync(join(path, 'index.js'))) {
    throw new Error(`ses-relay: the ${name} handler bundle is missing at ${path}; run "npm run build"`);
  }
  return path;
}
