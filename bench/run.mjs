// `npm run bench`: runs every benchmark in bench/ in turn and prints their figures.
// bench/relay.ts builds the end-to-end test world, so it needs root and the Debian packages
// .ci/run installs; elsewhere it is skipped with the reason.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const tsx = join(here, '..', 'node_modules', 'tsx', 'dist', 'cli.mjs');
let failed = false;
for (const [name, argv] of [
  ['synth', [join(here, 'synth.mjs')]],
  ['relay', [tsx, join(here, 'relay.ts'), ...process.argv.slice(2)]],
  ['drain', [tsx, join(here, 'drain.ts')]],
]) {
  console.log(`== ${name}`);
  if (name !== 'synth' && process.getuid?.() !== 0) {
    console.log('skipped: needs root (it runs real Postfix in its own namespaces)');
    continue;
  }
  const r = spawnSync(process.execPath, argv, { stdio: 'inherit' });
  failed ||= r.status !== 0;
}
process.exitCode = failed ? 1 : 0;
