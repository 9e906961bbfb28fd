// The integration tests' snapshots without an AWS account. integ-runner 2.197.10 (the newest the
// registry serves) bundles a toolkit that reads cloud assembly schema 53 at most, and aws-cdk-lib
// 2.276 writes 55, so integ-runner itself can neither check nor write them yet. This synthesizes
// test/integ/integ.*.ts as integ-runner does for a snapshot (its recommended feature flags, its
// fixed CDK_INTEG_* environment, no lookups) into <file>.snapshot/, without the asset files, as
// integ-runner keeps them for tests without the update workflow. `npm test` compares the
// templates and the test manifest, asset hashes masked, as integ-runner's snapshot check does
// (test/integ/snapshot.test.ts).
// Usage: node scripts/integ-snapshot.mjs            rewrite the snapshots
//        node scripts/integ-snapshot.mjs --check    compare; exit 1 naming the files that differ
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const integDir = join(root, 'test', 'integ');

/** integ-runner's DEFAULT_SYNTH_OPTIONS.env (lib/runner/runner-base.js), which it synthesizes with. */
const INTEG_ENV = {
  CDK_INTEG_ACCOUNT: '12345678',
  CDK_INTEG_REGION: 'test-region',
  CDK_INTEG_HOSTED_ZONE_ID: 'Z23ABC4XYZL05B',
  CDK_INTEG_HOSTED_ZONE_NAME: 'example.com',
  CDK_INTEG_DOMAIN_NAME: '*.example.com',
  CDK_INTEG_CERT_ARN: 'arn:aws:acm:test-region:12345678:certificate/86468209-a272-595d-b831-0efb6421265z',
  CDK_INTEG_SUBNET_ID: 'subnet-0dff1a399d8f6f92c',
};

/** The integ test apps, as integ-runner finds them (integ.*.ts). */
export function integTests() {
  return readdirSync(integDir).filter((f) => /^integ\..*(?<!\.d)\.ts$/.test(f));
}

/** Synthesizes one integ test app into outdir with integ-runner's context and environment. */
export function synthInteg(file, outdir) {
  const flags = JSON.parse(
    readFileSync(join(root, 'node_modules/@aws-cdk/integ-runner/lib/recommended-feature-flags.json'), 'utf8'),
  );
  // integ-runner leaves target partitions unset (runner-base.js getContext).
  delete flags['@aws-cdk/core:target-partitions'];
  const r = spawnSync(process.execPath, ['--import', 'tsx', file], {
    cwd: integDir,
    encoding: 'utf8',
    env: {
      ...process.env,
      ...INTEG_ENV,
      AWS_EC2_METADATA_DISABLED: 'true',
      CDK_OUTDIR: outdir,
      // What integ-runner's toolkit sets (no path, asset or version metadata), and no stack traces: the
      // snapshot holds no path of this machine.
      CDK_CONTEXT_JSON: JSON.stringify({
        ...flags,
        'aws:cdk:enable-path-metadata': false,
        'aws:cdk:enable-asset-metadata': false,
        'aws:cdk:version-reporting': false,
        'aws:cdk:disable-stack-trace': true,
        'aws:cdk:disable-creation-stack-traces': true,
      }),
    },
  });
  if (r.status !== 0) throw new Error(`${file} did not synthesize:\n${r.stderr}`);
  for (const f of readdirSync(outdir)) {
    if (f.startsWith('asset.') || f === '.cache') rmSync(join(outdir, f), { recursive: true });
    // Acknowledgments carry a trace of where they were made (this machine's paths) regardless.
    if (f.endsWith('.metadata.json')) {
      const metadata = JSON.parse(readFileSync(join(outdir, f), 'utf8'));
      for (const entries of Object.values(metadata)) for (const e of entries) delete e.trace;
      writeFileSync(join(outdir, f), `${JSON.stringify(metadata, null, 2)}\n`);
    }
  }
}

/**
 * The snapshot's comparable files (templates and the integ manifest), with asset hashes and the
 * assertions' salts (the synthesis time, so that they run on every deployment) masked.
 */
export function comparable(dir) {
  const out = {};
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.template.json') && f !== 'integ.json') continue;
    const text = readFileSync(join(dir, f), 'utf8')
      .replace(/[0-9a-f]{64}/g, 'ASSET_HASH')
      .replace(/"salt": "\d+"/g, '"salt": "SALT"');
    out[f] = JSON.parse(text);
  }
  return out;
}

/** The files of `actual` that differ from `expected` (comparable() maps), by name. */
export function differences(expected, actual) {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return names.filter((n) => JSON.stringify(expected[n]) !== JSON.stringify(actual[n]));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // --check [--against DIR]: compare instead of writing (DIR holds the <file>.snapshot folders).
  const check = process.argv.includes('--check');
  const against = process.argv.includes('--against') ? process.argv[process.argv.indexOf('--against') + 1] : integDir;
  let failed = 0;
  for (const file of integTests()) {
    const tmp = mkdtempSync(join(tmpdir(), 'ses-relay-integ-'));
    try {
      synthInteg(file, tmp);
      const dir = join(against, `${file}.snapshot`);
      if (check) {
        const changed = existsSync(dir) ? differences(comparable(dir), comparable(tmp)) : ['(no snapshot)'];
        console.log(`${file}: ${changed.length === 0 ? 'no change' : `changed: ${changed.join(', ')}`}`);
        if (changed.length > 0) failed++;
      } else {
        rmSync(dir, { recursive: true, force: true });
        cpSync(tmp, dir, { recursive: true });
        console.log(`wrote ${dir}`);
      }
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  if (failed > 0) {
    console.log('A changed snapshot is accepted by deploying the test (README "Integration tests on a real account").');
    process.exit(1);
  }
}
