// `npm run bench`: runs every benchmark in bench/ in turn and prints their figures.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
let failed = false;
for (const bench of ['synth.mjs']) {
  console.log(`== ${bench}`);
  const r = spawnSync(process.execPath, [join(here, bench)], { stdio: 'inherit' });
  failed ||= r.status !== 0;
}
process.exitCode = failed ? 1 : 0;
