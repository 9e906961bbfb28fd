// Benchmark: `npx cdk synth` of the default app (the README's main command) against an app holding
// a single SNS topic (bench/sns-topic-app.ts), both end to end through the same CDK CLI, cdk.json
// and tsx, in one run with the two interleaved (the order alternating each round) so that the
// machine's load weighs on both alike. The baseline skips cdk.json's build step (the handlers'
// esbuild bundle, which only the relay app needs); the default app runs it, as `cdk synth` does.
// Reports, for wall-clock time and for CPU time (user + system of the whole process tree, from
// GNU time where /usr/bin/time exists; other processes' load inflates it far less), each side's
// median, min and max, the ratio of the medians and the median of the rounds' own ratios (a
// round's two runs share the load of the moment), and the load average.
// Usage: node bench/synth.mjs [rounds]   (default 7)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 7);
const GNU_TIME = '/usr/bin/time';
const cpuMeasured = existsSync(GNU_TIME);

const tsxApp = 'node node_modules/tsx/dist/cli.mjs bench/sns-topic-app.ts';
const apps = {
  relay: ['cdk', 'synth', '-q'],
  snsTopic: ['cdk', 'synth', '-q', '--build', 'true', '--app', tsxApp],
};

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  return { median, min: sorted[0], max: sorted[n - 1] };
}

/** One `npx cdk synth`: wall-clock and CPU seconds. */
function run(args) {
  const dir = mkdtempSync(join(tmpdir(), 'ses-relay-bench-'));
  const cpuFile = join(dir, 'cpu');
  const command = ['npx', '--no-install', ...args, '--output', join(dir, 'out')];
  const argv = cpuMeasured ? [GNU_TIME, '-f', '%U %S', '-o', cpuFile, ...command] : command;
  const start = process.hrtime.bigint();
  // No instance-metadata lookups for credentials: this measures synthesis, not a network timeout.
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' },
  });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = cpuMeasured ? readFileSync(cpuFile, 'utf8').trim().split(/\s+/).slice(-2).map(Number) : [Number.NaN];
  rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${command.join(' ')} failed: ${r.stderr}`);
  return { wall, cpu: cpu.reduce((a, b) => a + b, 0) };
}

const loadBefore = loadavg()[0];
const runs = { relay: [], snsTopic: [] };
for (let i = 0; i < rounds; i++) {
  for (const name of i % 2 === 0 ? ['relay', 'snsTopic'] : ['snsTopic', 'relay']) runs[name].push(run(apps[name]));
}

const result = {
  benchmark: 'cdk synth: default app vs one SNS topic (CDK CLI)',
  rounds,
  cores: availableParallelism(),
};
for (const measure of cpuMeasured ? ['wall', 'cpu'] : ['wall']) {
  const relay = stats(runs.relay.map((r) => r[measure]));
  const snsTopic = stats(runs.snsTopic.map((r) => r[measure]));
  const roundRatio = stats(runs.relay.map((r, i) => r[measure] / runs.snsTopic[i][measure])).median;
  result[measure] = { relay, snsTopic, ratio: relay.median / snsTopic.median, roundRatio };
}
result.loadAverage = [loadBefore, loadavg()[0]].map((l) => Number(l.toFixed(1)));
console.log(JSON.stringify(result));

const side = (s) => `median ${s.median.toFixed(2)} s (min ${s.min.toFixed(2)}, max ${s.max.toFixed(2)})`;
console.log(
  `cdk synth, ${rounds} interleaved rounds, ${result.cores} cores, load average ${result.loadAverage.join(' -> ')}:`,
);
for (const measure of ['wall', 'cpu']) {
  const m = result[measure];
  if (!m) continue;
  console.log(
    `  ${measure === 'wall' ? 'wall-clock' : 'CPU time  '}: default app ${side(m.relay)}; one SNS topic ${side(m.snsTopic)}; ` +
      `ratio of the medians ${m.ratio.toFixed(2)}x, median of the rounds' ratios ${m.roundRatio.toFixed(2)}x`,
  );
}
