// The package as a user gets it: `npm pack`, then installed from the tarball into a separate CDK
// app (APP below: an ec2.Instance with ~6 KB of user data of its own, SMTP credentials for
// another region than the stack's, SesRelay.configure), type-checked against the packed types and
// synthesized. Needs the built package (dist/, made by `npm ci`/`npm run build`) and the npm
// registry or npm's cache (filled by `npm ci`) for aws-cdk-lib and the other dependencies.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const BIN = join(ROOT, 'node_modules', '.bin');
const built = existsSync(join(ROOT, 'dist', 'lib', 'index.js'));
if (!built) {
  const why = 'dist/ is missing: run `npm run build` (npm ci and npm test do)';
  if (process.env.CI) throw new Error(why);
  console.warn(`skipping the consumer test: ${why}`);
}
const describeBuilt = built ? describe : describe.skip;

jest.setTimeout(300000);

/** The consumer's app, its own project (kept here: the root tsconfig cannot resolve 'ses-relay'). */
const APP = `// A CDK app of someone else's, using ses-relay as installed from its npm tarball: an ec2.Instance
// with several KB of user data of its own, SMTP credentials for another region than the stack's,
// and SesRelay.configure. Synthesized by test/consumer/consumer.test.ts.
import { App, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { RelayTarget, SesRelay, SesSmtpCredentials } from 'ses-relay';

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'ConsumerStack', { env: { region: 'eu-west-1' } });
const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });

// The instance's own boot commands: about 6 KB.
const userData = ec2.UserData.forLinux();
for (let i = 0; i < 60; i++) {
  userData.addCommands(
    \`echo "consumer step \${i}: configure the application, its logs and its monitoring" >>/var/log/consumer-setup.log\`,
  );
}
const instance = new ec2.Instance(stack, 'AppServer', {
  vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
  instanceType: new ec2.InstanceType('t3.micro'),
  machineImage: ec2.MachineImage.latestAmazonLinux2023(),
  userData,
});

// SES in us-east-1, the stack (and the secret) in eu-west-1.
const credentials = new SesSmtpCredentials(stack, 'SmtpCredentials', {
  smtpRegion: 'us-east-1',
  allowAnyIdentity: true,
});
new SesRelay(stack, 'Relay', { credentials }).configure(RelayTarget.fromInstance(instance));

app.synth();
`;
const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "commonjs",
    "moduleResolution": "node",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true,
    "types": []
  },
  "files": ["app.ts"]
}
`;

const version = (name: string) =>
  (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;

/** The user data's rendered length: each token (a bucket name, an object key, an ARN) at 256. */
function renderedLength(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (value && typeof value === 'object' && 'Fn::Join' in value) {
    const [, parts] = (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
    return parts.reduce<number>((n, p) => n + renderedLength(p), 0);
  }
  return 256;
}
/** The literal text of the user data (tokens left out). */
function literal(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && 'Fn::Join' in value) {
    return (value as { 'Fn::Join': [string, unknown[]] })['Fn::Join'][1].map(literal).join('');
  }
  return '<token>';
}

describeBuilt('a separate CDK app using the packed package', () => {
  let dir: string;
  let tarball: string;
  let template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ses-relay-consumer-'));
    const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    tarball = join(dir, packed.trim().split('\n').pop() ?? '');
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'app.ts'), APP);
    writeFileSync(join(app, 'tsconfig.json'), TSCONFIG);
    writeFileSync(join(app, 'package.json'), '{ "name": "consumer-app", "version": "1.0.0", "private": true }\n');
    // The app's own aws-cdk-lib and constructs (the versions this project uses, so npm's cache serves them).
    execFileSync(
      'npm',
      [
        'install',
        '--prefer-offline',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        tarball,
        `aws-cdk-lib@${version('aws-cdk-lib')}`,
        `constructs@${version('constructs')}`,
      ],
      { cwd: app, stdio: 'pipe' },
    );
    execFileSync(join(BIN, 'tsc'), ['-p', '.'], { cwd: app, stdio: 'pipe' });
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'app.ts'], {
      cwd: app,
      stdio: 'pipe',
    });
    template = JSON.parse(readFileSync(join(app, 'cdk.out', 'ConsumerStack.template.json'), 'utf8'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the tarball holds the built library, its types, the CLI, the handlers and the instance program, no sources or tests', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of [
      'package/dist/lib/index.js',
      'package/dist/lib/index.d.ts',
      'package/dist/bin/ses-relay.js',
      'package/dist/handlers/smtp-credentials/index.js',
      // The bundled third-party code's licence texts travel with it.
      'package/dist/bin/ses-relay.js.LICENSES.txt',
      'package/dist/handlers/smtp-credentials/index.js.LICENSES.txt',
      'package/dist/lib/bootstrap/instance/boot.sh',
      'package/dist/lib/bootstrap/instance/pacer.py',
      'package/.jsii',
      'package/LICENSE',
    ]) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /^package\/(test|lib|scripts|bench)\//.test(f))).toEqual([]);
    // The CLI and the handlers are bundled: their sources' compiled copies would be dead weight.
    expect(files.filter((f) => /^package\/dist\/lib\/(cli|handlers\/.*\/index)/.test(f))).toEqual([]);
  });

  test('it has no dependencies: its CLI runs without commander or the AWS SDK installed', () => {
    const installed = JSON.parse(readFileSync(join(dir, 'app', 'node_modules', 'ses-relay', 'package.json'), 'utf8'));
    expect(installed.dependencies ?? {}).toEqual({});
    const modules = readdirSync(join(dir, 'app', 'node_modules'));
    expect(modules).not.toContain('commander');
    expect(modules).not.toContain('@aws-sdk');
    const cli = join(dir, 'app', 'node_modules', '.bin', 'ses-relay');
    const password = execFileSync(cli, ['smtp-password', '--smtp-region', 'eu-central-1'], {
      input: 'some+secret+key\n',
      encoding: 'utf8',
    });
    expect(password).toBe('BMXhUYlu5Z3gSXVQORxlVa7XPaz91aGWdfHxvkOZdWZ2\n'); // a published vector (test/smtp)
  });

  test('it installs with a single aws-cdk-lib and constructs (peer dependencies)', () => {
    const nested = join(dir, 'app', 'node_modules', 'ses-relay', 'node_modules');
    const own = existsSync(nested) ? readdirSync(nested) : [];
    expect(own).not.toContain('aws-cdk-lib');
    expect(own).not.toContain('constructs');
  });

  test("it synthesizes; the instance's user data keeps its own commands, fetches the program from S3 and fits in 16 KB", () => {
    const instances = Object.values(template.Resources).filter((r) => r.Type === 'AWS::EC2::Instance');
    expect(instances).toHaveLength(1);
    const userData = (instances[0].Properties.UserData as { 'Fn::Base64': unknown })['Fn::Base64'];
    const text = literal(userData);
    expect(text).toContain('consumer step 0: configure the application');
    expect(text).toContain('consumer step 59: configure the application');
    expect(text).toMatch(/aws s3 cp "s3:\/\/<token>\/[0-9a-f]{64}\.gz" "\$archive" --region eu-west-1 /);
    expect(text).toContain("SES_HOST='email-smtp.us-east-1.amazonaws.com'");
    expect(text).toContain("SECRET_REGION='eu-west-1'");
    const length = renderedLength(userData);
    expect(length).toBeGreaterThan(6000);
    expect(length).toBeLessThan(16384);
  });
});
