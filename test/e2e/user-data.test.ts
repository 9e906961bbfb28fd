// End-to-end: the user data SesRelay.configure writes into someone else's ec2.Instance, taken from
// the synthesized template (tokens given concrete values) and run unmodified as root in the test
// world: it fetches the instance program from "S3" (the AWS CLI stand-in serves the asset's bytes),
// checks its SHA-256, installs it and configures Postfix, and the instance's own commands still run.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { RelayTarget, SesRelay, SesSmtpCredentials } from '../../lib';
import { programArchive } from '../../lib/bootstrap/program';
import { type Standin, World } from '../harness/world';
import { CREDS, describeWorld } from './suite';

jest.setTimeout(180000);

const USERNAME = CREDS.username;
const PASSWORD = CREDS.password;
const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:SmtpSecret-AbCdEf';

/** The instance's user data as the stack renders it, with its tokens given concrete values. */
function synthesizedUserData(): string {
  const app = new App();
  const stack = new Stack(app, 'Consumer', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 1, natGateways: 0 });
  const instance = new ec2.Instance(stack, 'App', {
    vpc,
    instanceType: new ec2.InstanceType('t3.micro'),
    machineImage: ec2.MachineImage.latestAmazonLinux2023(),
  });
  instance.userData.addCommands('echo "my own command ran" > /root/mine.txt');
  const credentials = new SesSmtpCredentials(stack, 'Smtp', { allowAnyIdentity: true });
  new SesRelay(stack, 'Relay', { credentials }).configure(RelayTarget.fromInstance(instance));
  const props = Object.values(Template.fromStack(stack).findResources('AWS::EC2::Instance'))[0].Properties;
  const parts = props.UserData['Fn::Base64']['Fn::Join'][1] as unknown[];
  return parts
    .map((p) => {
      if (typeof p === 'string') return p;
      const json = JSON.stringify(p);
      if (json.includes('AccessKeyId')) return USERNAME;
      if (json.includes('Secret')) return SECRET_ARN;
      if (json.includes('cdk-hnb659fds-assets')) return 'cdk-hnb659fds-assets-123456789012-eu-west-1';
      throw new Error(`unexpected token in the user data: ${json}`);
    })
    .join('');
}

describeWorld("SesRelay's user data in an instance of someone else's stack", () => {
  let world: World;
  let standin: Standin;
  const userData = synthesizedUserData();
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    world = World.create();
    standin = await world.startStandin({ username: USERNAME, password: PASSWORD });
    const archive = join(world.dir, 'program.tar.gz');
    writeFileSync(archive, programArchive());
    env = {
      ...world.awsEnv(SECRET_ARN, JSON.stringify({ username: USERNAME, password: PASSWORD })),
      FAKE_AWS_S3_FILE: archive,
    };
  });
  afterAll(() => world?.destroy());

  test('a program that is not the asset (its SHA-256 differs) is never installed or run', () => {
    const other = join(world.dir, 'other.tar.gz');
    writeFileSync(other, Buffer.concat([programArchive(), Buffer.from('tampered')]));
    const r = world.runScript(userData, { ...env, FAKE_AWS_S3_FILE: other }, 'tampered.sh');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/sha256sum: WARNING: 1 computed checksum did NOT match/);
    expect(world.exec(['test', '-e', '/usr/local/lib/ses-relay/boot.sh']).code).not.toBe(0);
    expect(world.exec(['postfix', 'status']).code).not.toBe(0);
  });

  test('fetches the program, installs it with its comments, configures Postfix; the own commands run', async () => {
    const r = world.runScript(userData, env);
    expect(r.stderr).toContain('relays through [email-smtp.eu-west-1.amazonaws.com]:587 for this host only');
    expect(r.code).toBe(0);
    expect(world.read('/root/mine.txt')).toBe('my own command ran\n');
    expect(world.read('/usr/local/sbin/ses-relay-bootstrap')).toMatch(/^# ses-relay instance program, the boot entry/);
    expect(world.read('/etc/ses-relay/settings')).toContain(`SECRET_ID='${SECRET_ARN}'`);
    expect(
      world.awsCalls().some((c) => c.call.startsWith('s3 cp s3://cdk-hnb659fds-assets-123456789012-eu-west-1/')),
    ).toBe(true);
    const before = standin.messages().length;
    world.sendmail('sender@example.com', ['recipient@example.com'], 'Subject: from the instance\n\nhello\n');
    await standin.waitFor(() => standin.messages().length > before, 30000, 'delivery');
    expect(Buffer.byteLength(userData)).toBeLessThan(16384);
    expect(userData).not.toContain(PASSWORD);
  });
});
