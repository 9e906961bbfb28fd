// The integration tests' snapshots, checked without an AWS account: the integ apps are synthesized
// as integ-runner synthesizes them and compared with the committed <file>.snapshot/ folders
// (scripts/integ-snapshot.mjs; why not integ-runner itself: see there).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SCRIPT = join(ROOT, 'scripts', 'integ-snapshot.mjs');
const SNAPSHOT = join(__dirname, 'integ.mail-relay.ts.snapshot');

function check(against?: string) {
  const args = [SCRIPT, '--check', ...(against ? ['--against', against] : [])];
  return spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
}

test('the integ app synthesizes to its committed snapshot (templates and test cases)', () => {
  const r = check();
  // stderr shown on failure: a synthesis error is reported there.
  expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toMatchObject({
    status: 0,
    stdout: expect.stringContaining('integ.mail-relay.ts: no change'),
  });
});

test('a snapshot that differs from the app is reported by file, and fails', () => {
  const root = mkdtempSync(join(tmpdir(), 'ses-relay-integ-check-'));
  const copy = join(root, 'integ.mail-relay.ts.snapshot');
  cpSync(SNAPSHOT, copy, { recursive: true });
  // As if the assertion still waited for another address than the one the test sends to.
  const file = join(copy, 'SesRelayIntegAssertions.template.json');
  const template = readFileSync(file, 'utf8');
  expect(template).toContain('success@simulator');
  writeFileSync(file, template.replace('success@simulator', 'bounce@simulator'));
  const r = check(root);
  rmSync(root, { recursive: true, force: true });
  expect(r.stdout).toContain('integ.mail-relay.ts: changed: SesRelayIntegAssertions.template.json');
  expect(r.status).toBe(1);
});

test('the snapshot holds no secret, no account and no path of the machine that wrote it', () => {
  const read = (f: string) => readFileSync(join(SNAPSHOT, f), 'utf8');
  // The secret starts as a generated placeholder; the custom resource writes the credentials.
  const secrets = Object.values(JSON.parse(read('SesRelayInteg.template.json')).Resources as object).filter(
    (r: { Type: string }) => r.Type === 'AWS::SecretsManager::Secret',
  ) as { Properties: Record<string, unknown> }[];
  expect(secrets).toHaveLength(1);
  expect(secrets[0].Properties).not.toHaveProperty('SecretString');
  const all = ['SesRelayInteg', 'SesRelayIntegAssertions']
    .flatMap((s) => [`${s}.template.json`, `${s}.metadata.json`, `${s}.assets.json`])
    .concat(['manifest.json', 'tree.json', 'integ.json'])
    .map(read)
    .join('\n');
  expect(all).not.toContain(ROOT);
  // An account id (12 digits standing alone, as in an ARN; not a run of digits inside an asset hash).
  expect(all).not.toMatch(/(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])/); // the stacks are region-only
});
