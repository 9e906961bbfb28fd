// The Python package as a user gets it: jsii-pacmak builds the wheel from the built library (dist/
// and .jsii, made by `npm test`'s build), a venv of its own installs aws-cdk-lib and constructs from
// PyPI (the versions this project builds against) and the wheel, and a small Python CDK app
// (python/app.py) synthesizes. Its template must be the TypeScript twin's below, asset hashes aside.
// The venv is kept in .cache/consumer-python and made anew when those versions change; the wheel is
// built and reinstalled on every run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { RelayTarget, SesRelay, SesRelayHub, SesSmtpCredentials } from '../../lib';

const ROOT = join(__dirname, '..', '..');
const CACHE = join(ROOT, '.cache', 'consumer-python');
const VENV = join(CACHE, 'venv');
const PYTHON = join(VENV, 'bin', 'python');
const ENV = {
  ...process.env,
  // jsii (here and in the Python runtime's node process) says on every run that Node.js 20 is past
  // its end of life; it works all the same.
  JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION: '20',
  // jsii-pacmak packs with npm pack, whose prepare would build again: `npm test` has built.
  npm_config_ignore_scripts: 'true',
};

const version = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/** Why this suite cannot run here, if it cannot. */
function missing(): string | undefined {
  if (!existsSync(join(ROOT, '.jsii')) || !existsSync(join(ROOT, 'dist', 'lib', 'index.js'))) {
    return '.jsii or dist/ is missing: run `npm run build` (npm ci and npm test do)';
  }
  const python = spawnSync('python3', ['-c', 'import sys, venv; print(sys.version_info >= (3, 10))'], {
    encoding: 'utf8',
  });
  if (python.stdout?.trim() !== 'True') {
    return 'no python3 (3.10 or newer, as aws-cdk-lib needs) with venv: scripts/test-setup.sh installs python3-venv';
  }
  return undefined;
}
const why = missing();
if (why) {
  if (process.env.CI) throw new Error(why);
  console.warn(`skipping the Python consumer test: ${why}`);
}
const describeReady = why ? describe.skip : describe;

jest.setTimeout(900000);

/** Runs a command; on failure, throws with the end of its output. */
function run(file: string, args: string[], cwd = ROOT, input?: string): string {
  const r = spawnSync(file, args, { cwd, env: ENV, encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    const output = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`${file} ${args.join(' ')} failed (${r.status ?? r.signal}):\n${output}`);
  }
  return r.stdout;
}

/** The venv with aws-cdk-lib and constructs from PyPI, at this project's versions, and the wheel's requirements. */
function ensureVenv(wheel: string): void {
  const requirements = `aws-cdk-lib==${version('aws-cdk-lib')}\nconstructs==${version('constructs')}\n`;
  const stamp = join(CACHE, 'requirements.txt');
  if (existsSync(PYTHON) && existsSync(stamp) && readFileSync(stamp, 'utf8') === requirements) return;
  rmSync(CACHE, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  run('python3', ['-m', 'venv', VENV]);
  writeFileSync(join(CACHE, 'requested.txt'), requirements);
  run(PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', join(CACHE, 'requested.txt'), wheel]);
  writeFileSync(stamp, requirements);
}

/** The same app as python/app.py, in TypeScript, on the library's sources. */
function typescriptTwin() {
  const app = new App();
  const stack = new Stack(app, 'ConsumerStack', { env: { region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 1 });
  const instance = new ec2.Instance(stack, 'AppServer', {
    vpc,
    vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
    instanceType: new ec2.InstanceType('t3.micro'),
    machineImage: ec2.MachineImage.latestAmazonLinux2023(),
  });
  const credentials = new SesSmtpCredentials(stack, 'SmtpCredentials', {
    smtpRegion: 'us-east-1',
    allowAnyIdentity: true,
  });
  new SesRelay(stack, 'Relay', { credentials }).configure(RelayTarget.fromInstance(instance));
  new SesRelayHub(stack, 'Hub', { vpc, credentials, relayNetworks: ['10.0.0.0/16'] });
  return Template.fromStack(stack).toJSON();
}

type CfnTemplate = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };

/** The template with every asset hash (and the program's SHA-256) as <hash>. */
const normalized = (template: unknown) => JSON.parse(JSON.stringify(template).replace(/[0-9a-f]{64}/g, '<hash>'));

describeReady('a Python CDK app using the wheel', () => {
  let dir: string;
  let wheel: string;
  let template: CfnTemplate;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ses-relay-python-'));
    run(
      join(ROOT, 'node_modules', '.bin', 'jsii-pacmak'),
      ['--targets', 'python', '--outdir', join(dir, 'packages')],
      ROOT,
    );
    const built = join(dir, 'packages', 'python');
    const name = readdirSync(built).find((f) => f.endsWith('.whl'));
    if (!name) throw new Error(`jsii-pacmak made no wheel in ${built}`);
    wheel = join(built, name);
    ensureVenv(wheel);
    // The wheel's version does not change between builds: reinstall it, then check what it requires.
    run(PYTHON, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '--force-reinstall', '--no-deps', wheel]);
    run(PYTHON, [join(__dirname, 'python', 'app.py'), join(dir, 'cdk.out')], dir);
    template = JSON.parse(readFileSync(join(dir, 'cdk.out', 'ConsumerStack.template.json'), 'utf8'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("the wheel's requirements are met by aws-cdk-lib and constructs at this project's versions, from PyPI", () => {
    expect(run(PYTHON, ['-m', 'pip', 'check', '--disable-pip-version-check'])).toContain('No broken requirements');
    const installed = run(PYTHON, ['-m', 'pip', 'list', '--format=freeze', '--disable-pip-version-check']);
    expect(installed).toContain(`aws-cdk-lib==${version('aws-cdk-lib')}\n`);
    const own = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    expect(installed).toContain(`ses-relay==${own}\n`);
  });

  test('its ses-relay command is the CLI, with no Node.js packages installed', () => {
    const out = run(
      join(VENV, 'bin', 'ses-relay'),
      ['smtp-password', '--smtp-region', 'eu-central-1'],
      dir,
      'some+secret+key\n',
    );
    expect(out).toBe('BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\n'); // a published vector (test/smtp)
  });

  test('it synthesizes the instance relaying to SES in us-east-1 and the hub behind its load balancer', () => {
    const types = Object.values(template.Resources).map((r) => r.Type);
    for (const type of [
      'AWS::EC2::Instance',
      'Custom::SesSmtpCredentials',
      'AWS::SecretsManager::Secret',
      'AWS::AutoScaling::AutoScalingGroup',
      'AWS::ElasticLoadBalancingV2::LoadBalancer',
    ]) {
      expect(types).toContain(type);
    }
    const instance = Object.values(template.Resources).find((r) => r.Type === 'AWS::EC2::Instance');
    expect(JSON.stringify(instance?.Properties.UserData)).toContain('email-smtp.us-east-1.amazonaws.com');
  });

  test("its template is the TypeScript twin's, asset hashes aside", () => {
    expect(normalized(template)).toEqual(normalized(typescriptTwin()));
  });
});
