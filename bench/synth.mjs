// Benchmark: `npx cdk synth` of the default app (the README's main command) against an app holding
// a single SNS topic (bench/sns-topic-app.ts), both end to end through the same CDK CLI, cdk.json
// and tsx, in one run with the two interleaved (the order alternating each round) so that the
// machine's load weighs on both alike. The baseline skips cdk.json's build step (the handlers'
// esbuild bundle, which only the relay app needs); the default app runs it, as `cdk synth` does.
// Reports each side's median, min and max, the ratio of the medians, the median of the rounds' own
// ratios (the two runs of a round share the machine's load of the moment) and the load average.
// Usage: node bench/synth.mjs [rounds]   (default 7)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const rounds = Number(process.argv[2] ?? 7);

const apps = {
  relay: ['npx', ['--no-install', 'cdk', 'synth', '-q']],
  snsTopic: [
    'npx',
    [
      '--no-install',
      'cdk',
      'synth',
      '-q',
      '--build',
      'true',
      '--app',
      'node node_modules/tsx/dist/cli.mjs bench/sns-topic-app.ts',
    ],
  ],
};

function stats(ms) {
  const sorted = [...ms].sort((a, b) => a - b);
  const median =
    sorted.length % 2
      ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
  return { medianS: median / 1000, minS: sorted[0] / 1000, maxS: sorted.at(-1) / 1000 };
}

function time([cmd, args]) {
  const out = mkdtempSync(join(tmpdir(), 'ses-relay-bench-'));
  const start = process.hrtime.bigint();
  // No instance-metadata lookups for credentials: this measures synthesis, not a network timeout.
  const r = spawnSync(cmd, [...args, '--output', out], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, AWS_EC2_METADATA_DISABLED: 'true' },
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  rmSync(out, { recursive: true, force: true });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

const cpus = availableParallelism();
const loadBefore = loadavg()[0];
const ms = { relay: [], snsTopic: [] };
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? ['relay', 'snsTopic'] : ['snsTopic', 'relay'];
  for (const name of order) ms[name].push(time(apps[name]));
}
const relay = stats(ms.relay);
const snsTopic = stats(ms.snsTopic);
const ratio = relay.medianS / snsTopic.medianS;
const roundRatio = stats(ms.relay.map((r, i) => (r / ms.snsTopic[i]) * 1000)).medianS;
const load = [loadBefore, loadavg()[0]].map((l) => Number(l.toFixed(1)));
console.log(
  JSON.stringify({
    benchmark: 'cdk synth: default app vs one SNS topic (CDK CLI)',
    rounds,
    relay,
    snsTopic,
    ratio,
    roundRatio,
    load,
  }),
);
const line = (s) => `median ${s.medianS.toFixed(2)} s (min ${s.minS.toFixed(2)}, max ${s.maxS.toFixed(2)})`;
console.log(`cdk synth, ${rounds} interleaved rounds: default app ${line(relay)}; one SNS topic ${line(snsTopic)}`);
console.log(
  `ratio of the medians ${ratio.toFixed(2)}x, median of the rounds' ratios ${roundRatio.toFixed(2)}x (load average ${load[0]} before, ${load[1]} after, ${cpus} cores)`,
);
