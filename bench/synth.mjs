// Benchmark: how long `npx cdk synth` of the default app takes (the README's main command), end to
// end through the CDK CLI, over several runs. Lambda code is prebuilt by `npm run build`, so synth
// never bundles; this measures that claim. Usage: node bench/synth.mjs [runs]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 5);

function stats(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  return {
    runs: ms.length,
    medianS: sorted[Math.floor(sorted.length / 2)] / 1000,
    minS: sorted[0] / 1000,
    maxS: sorted.at(-1) / 1000,
  };
}

function time(cmd, args) {
  const out = mkdtempSync(join(tmpdir(), 'ses-relay-bench-'));
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, [...args, '--output', out], { cwd: root, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  rmSync(out, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

const cli = [];
for (let i = 0; i < runs; i++) cli.push(time('npx', ['--no-install', 'cdk', 'synth', '-q']));
const result = { benchmark: 'cdk synth (default app, via the CDK CLI)', ...stats(cli) };
console.log(JSON.stringify(result));
console.log(
  `cdk synth: median ${result.medianS.toFixed(2)} s (min ${result.minS.toFixed(2)}, max ${result.maxS.toFixed(2)}) over ${runs} runs`,
);
