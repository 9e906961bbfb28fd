// SesRelay on targets you own: what configure adds, the group it may manage (drain hook, grants,
// signals), and the synth-time refusal of user data EC2 would refuse.
import * as cdk from 'aws-cdk-lib';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as ses from 'aws-cdk-lib/aws-ses';
import { RelayTarget, SesRelay, SesSmtpCredentials } from '../lib';
import { PROGRAM_PATH } from '../lib/bootstrap/program';
import { userDataParts } from './helpers/relay-stack';

function fixture() {
  const app = new App();
  const stack = new Stack(app, 'Apps', { env: { account: '123456789012', region: 'eu-west-1' } });
  const vpc = new ec2.Vpc(stack, 'Vpc', { maxAzs: 2, natGateways: 0 });
  const credentials = new SesSmtpCredentials(stack, 'Smtp', { allowAnyIdentity: true });
  return { app, stack, vpc, credentials };
}

const machineImage = ec2.MachineImage.latestAmazonLinux2023();
const instanceType = new ec2.InstanceType('t3.micro');

/** The user data of the stack's one group (launch configuration or template) or instance, as JSON. */
function userDataText(t: Template, of: 'group' | 'instance'): string {
  if (of === 'instance') {
    return JSON.stringify(Object.values(t.findResources('AWS::EC2::Instance'))[0].Properties.UserData);
  }
  const config = Object.values(t.findResources('AWS::AutoScaling::LaunchConfiguration'))[0];
  const template = Object.values(t.findResources('AWS::EC2::LaunchTemplate'))[0];
  return JSON.stringify(config ? config.Properties.UserData : template.Properties.LaunchTemplateData.UserData);
}

describe('SesRelay', () => {
  test('a group of your own: the drain hook, the grants for its relays, and a signal when it waits for one', () => {
    const f = fixture();
    const group = new autoscaling.AutoScalingGroup(f.stack, 'Relays', {
      vpc: f.vpc,
      machineImage,
      instanceType,
      minCapacity: 2,
      maxCapacity: 3,
      signals: autoscaling.Signals.waitForAll({ timeout: Duration.minutes(15) }),
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({ maxBatchSize: 1, minInstancesInService: 2 }),
    });
    new SesRelay(f.stack, 'Relay', { credentials: f.credentials, relayCount: 2, group }).configure(
      RelayTarget.fromAutoScalingGroup(group),
    );
    const t = Template.fromStack(f.stack);
    const groupId = f.stack.getLogicalId(group.node.defaultChild as autoscaling.CfnAutoScalingGroup);
    t.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      LifecycleHookSpecificationList: [
        {
          LifecycleHookName: 'ses-relay-drain',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          DefaultResult: 'CONTINUE',
          HeartbeatTimeout: 600,
        },
      ],
    });
    const text = userDataText(t, 'group');
    expect(text).toContain("LIFECYCLE_HOOK='ses-relay-drain'");
    expect(text).toContain(`SIGNAL_RESOURCE='Apps/${groupId}'`);
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain(`:autoScalingGroup:*:autoScalingGroupName/Apps-${groupId}-*`);
    expect(policies).toContain('cloudformation:SignalResource');
    expect(policies).toContain('autoscaling:SetInstanceHealth');
  });

  test('a group that waits for no signal gets the hook but no signal; instances on their own get neither', () => {
    const f = fixture();
    const group = new autoscaling.AutoScalingGroup(f.stack, 'Relays', { vpc: f.vpc, machineImage, instanceType });
    new SesRelay(f.stack, 'Relay', { credentials: f.credentials, group }).configure(
      RelayTarget.fromAutoScalingGroup(group),
    );
    const instance = new ec2.Instance(f.stack, 'Single', { vpc: f.vpc, machineImage, instanceType });
    new SesRelay(f.stack, 'Alone', { credentials: f.credentials }).configure(RelayTarget.fromInstance(instance));
    const t = Template.fromStack(f.stack);
    const grouped = userDataText(t, 'group');
    expect(grouped).toContain("LIFECYCLE_HOOK='ses-relay-drain'");
    expect(grouped).toContain("SIGNAL_RESOURCE=''");
    expect(JSON.stringify(t.findResources('AWS::IAM::Policy'))).not.toContain('cloudformation:SignalResource');
    const alone = userDataText(t, 'instance');
    expect(alone).toContain("LIFECYCLE_HOOK=''");
    const groups = Object.values(t.findResources('AWS::AutoScaling::AutoScalingGroup'));
    expect(groups.map((g) => g.Properties.LifecycleHookSpecificationList?.[0]?.LifecycleHookName)).toEqual([
      'ses-relay-drain',
    ]);
  });

  test('a named group is granted by its name; a group without peerNetworks is warned about', () => {
    const f = fixture();
    const group = new autoscaling.AutoScalingGroup(f.stack, 'Relays', {
      vpc: f.vpc,
      machineImage,
      instanceType,
      autoScalingGroupName: 'mail-relays',
    });
    new SesRelay(f.stack, 'Relay', { credentials: f.credentials, group }).configure(
      RelayTarget.fromAutoScalingGroup(group),
    );
    const t = Template.fromStack(f.stack);
    expect(JSON.stringify(t.findResources('AWS::IAM::Policy'))).toContain(
      ':autoScalingGroup:*:autoScalingGroupName/mail-relays"',
    );
    Annotations.fromStack(f.stack).hasWarning(
      '/Apps/Relay',
      Match.stringLikeRegexp('group without peerNetworks: a relay the group terminates cannot hand its queue'),
    );
  });

  test("synth refuses a target whose user data would exceed EC2's 16 KB, naming the construct and the size", () => {
    const f = fixture();
    const instance = new ec2.Instance(f.stack, 'Big', { vpc: f.vpc, machineImage, instanceType });
    instance.userData.addCommands(`echo '${'x'.repeat(14000)}' > /root/big.txt`);
    new SesRelay(f.stack, 'Relay', { credentials: f.credentials }).configure(RelayTarget.fromInstance(instance));
    let message = '';
    try {
      f.app.synth();
    } catch (err) {
      message = (err as Error).message;
    }
    const bytes = Number(
      /Apps\/Relay: a configured target's user data would be about (\d+) bytes; EC2 accepts at most 16384/.exec(
        message,
      )?.[1],
    );
    expect(bytes).toBeGreaterThan(16384);
    expect(bytes).toBeLessThan(16384 + 8192);
  });

  test('the same instance with 6 KB of its own user data synthesizes', () => {
    const f = fixture();
    const instance = new ec2.Instance(f.stack, 'Mid', { vpc: f.vpc, machineImage, instanceType });
    instance.userData.addCommands(`echo '${'x'.repeat(6000)}' > /root/mid.txt`);
    new SesRelay(f.stack, 'Relay', { credentials: f.credentials }).configure(RelayTarget.fromInstance(instance));
    expect(() => f.app.synth()).not.toThrow();
  });

  test.each<[string, object, RegExp]>([
    [
      'a zero rate',
      { maxSendRate: 0 },
      /^Apps\/Relay: maxSendRate: invalid max send rate 0: recipients per second, a number from 1 to 100000/,
    ],
    [
      'too many relays',
      { relayCount: 1001 },
      /^Apps\/Relay: relayCount: invalid relay count 1001: .* a whole number from 1 to 1000/,
    ],
    [
      'an open relay',
      { relayNetworks: ['0.0.0.0/0'] },
      /^Apps\/Relay: relayNetworks: refusing network "0\.0\.0\.0\/0": a prefix shorter than \/8/,
    ],
    [
      'a peer network with host bits',
      { peerNetworks: ['10.0.1.0/16'] },
      /^Apps\/Relay: peerNetworks: invalid network "10\.0\.1\.0\/16": host bits/,
    ],
  ])('refuses %s, naming the construct path, the prop, the value and what is allowed', (_what, props, message) => {
    const f = fixture();
    expect(() => new SesRelay(f.stack, 'Relay', { credentials: f.credentials, ...props })).toThrow(message);
  });

  test('a configuration set by name is checked as SES names them, and named in the settings', () => {
    const f = fixture();
    const bad = ses.ConfigurationSet.fromConfigurationSetName(f.stack, 'Bad', 'my set');
    expect(() => new SesRelay(f.stack, 'Relay', { credentials: f.credentials, configurationSet: bad })).toThrow(
      /^Apps\/Relay: configurationSet\.configurationSetName: invalid configuration set name "my set"/,
    );
    const good = ses.ConfigurationSet.fromConfigurationSetName(f.stack, 'Good', 'relay-set');
    const instance = new ec2.Instance(f.stack, 'Single', { vpc: f.vpc, machineImage, instanceType });
    new SesRelay(f.stack, 'Other', { credentials: f.credentials, configurationSet: good }).configure(
      RelayTarget.fromInstance(instance),
    );
    expect(userDataText(Template.fromStack(f.stack), 'instance')).toContain("CONFIGURATION_SET_NAME='relay-set'");
  });

  test('credentials imported from a secret of another region: the relay reads that secret there, with no key id', () => {
    const f = fixture();
    const secret = secretsmanager.Secret.fromSecretCompleteArn(
      f.stack,
      'Shared',
      'arn:aws:secretsmanager:us-east-1:123456789012:secret:mail/smtp-AbCdEf',
    );
    const credentials = SesSmtpCredentials.fromSecret(f.stack, 'Imported', { secret, smtpPort: 2587 });
    expect([credentials.smtpRegion, credentials.smtpEndpoint, credentials.smtpPort, credentials.accessKeyId]).toEqual([
      'us-east-1',
      'email-smtp.us-east-1.amazonaws.com',
      2587,
      undefined,
    ]);
    const instance = new ec2.Instance(f.stack, 'Single', { vpc: f.vpc, machineImage, instanceType });
    new SesRelay(f.stack, 'Relay', { credentials }).configure(RelayTarget.fromInstance(instance));
    const t = Template.fromStack(f.stack);
    const text = userDataText(t, 'instance');
    expect(text).toContain("SECRET_ID='arn:aws:secretsmanager:us-east-1:123456789012:secret:mail/smtp-AbCdEf'");
    expect(text).toContain("SECRET_REGION='us-east-1'");
    expect(text).toContain("SES_PORT='2587'");
    expect(text).toContain('with the SMTP credentials of arn:aws:secretsmanager:us-east-1');
    expect(JSON.stringify(t.findResources('AWS::IAM::Policy'))).toContain('secretsmanager:GetSecretValue');
  });

  test('fromSecret checks its attributes where they enter', () => {
    const f = fixture();
    const secret = secretsmanager.Secret.fromSecretNameV2(f.stack, 'Shared', 'mail/smtp');
    expect(() => SesSmtpCredentials.fromSecret(f.stack, 'Imported', { secret, smtpPort: 2525 })).toThrow(
      /^Apps\/Imported: smtpPort: invalid port 2525: SES SMTP listens on 25, 587, 2587/,
    );
    expect(() =>
      SesSmtpCredentials.fromSecret(f.stack, 'Imported2', { secret, smtpEndpoint: 'no spaces.example.com' }),
    ).toThrow(/^Apps\/Imported2: smtpEndpoint: invalid endpoint "no spaces\.example\.com"/);
  });

  test('RelayTarget: any user data with the principal that runs it; a launch template needs user data', () => {
    const f = fixture();
    const role = new iam.Role(f.stack, 'Role', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    const userData = ec2.UserData.forLinux();
    new SesRelay(f.stack, 'Relay', { credentials: f.credentials }).configure(RelayTarget.fromUserData(userData, role));
    expect(userData.render()).toContain('/usr/local/lib/ses-relay/boot.sh');
    // The role given, and no other, may read the program and the secret.
    const policies = Object.values(Template.fromStack(f.stack).findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('s3:GetObject'),
    );
    expect(policies.map((p) => p.Properties.Roles)).toEqual([[f.stack.resolve(role.roleName)]]);
    expect(JSON.stringify(policies[0].Properties.PolicyDocument)).toContain('secretsmanager:GetSecretValue');
    const bare = new ec2.LaunchTemplate(f.stack, 'Bare', { role });
    expect(() => RelayTarget.fromLaunchTemplate(bare)).toThrow(
      'RelayTarget: the launch template Apps/Bare (give it a userData) has no user data',
    );
  });
});

describe('SesRelay.configure', () => {
  function fixture() {
    const s = new Stack(new App(), 'Host', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(s, 'Vpc', {
      natGateways: 0,
      subnetConfiguration: [{ name: 'a', subnetType: ec2.SubnetType.PUBLIC }],
    });
    const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
    const credentials = new SesSmtpCredentials(s, 'Smtp', { identities: [identity] });
    const relay = new SesRelay(s, 'Relay', { credentials });
    return { s, vpc, relay };
  }
  const machineImage = ec2.MachineImage.genericLinux({ 'eu-west-1': 'ami-0123456789abcdef0' });
  const instanceType = new ec2.InstanceType('t3.micro');

  test.each([
    [
      'an ec2.Instance',
      (f: ReturnType<typeof fixture>) => {
        const instance = new ec2.Instance(f.s, 'Target', { vpc: f.vpc, machineImage, instanceType });
        return [RelayTarget.fromInstance(instance), instance.role] as const;
      },
      'AWS::EC2::Instance',
    ],
    [
      'an AutoScalingGroup',
      (f: ReturnType<typeof fixture>) => {
        const group = new autoscaling.AutoScalingGroup(f.s, 'Target', { vpc: f.vpc, machineImage, instanceType });
        return [RelayTarget.fromAutoScalingGroup(group), group.role] as const;
      },
      'AWS::AutoScaling::LaunchConfiguration|AWS::EC2::LaunchTemplate',
    ],
    [
      'a LaunchTemplate',
      (f: ReturnType<typeof fixture>) => {
        const template = new ec2.LaunchTemplate(f.s, 'Target', {
          machineImage,
          instanceType,
          userData: ec2.UserData.forLinux(),
          role: new iam.Role(f.s, 'R', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
        });
        return [RelayTarget.fromLaunchTemplate(template), template.role as iam.IRole] as const;
      },
      'AWS::EC2::LaunchTemplate',
    ],
  ])('%s gets the bootstrap in its user data and read access to the secret', (_what, make, types) => {
    const f = fixture();
    const [target, role] = make(f);
    f.relay.configure(target);
    const t = Template.fromStack(f.s);
    // The script is in the user data of the target's own launch resource...
    const launch = types.split('|').flatMap((type) => Object.values(t.findResources(type)));
    const withScript = launch.filter((r) => JSON.stringify(r).includes(`bash ${PROGRAM_PATH}/boot.sh`));
    expect(withScript).toHaveLength(1);
    expect(JSON.stringify(withScript[0])).toContain("SES_HOST='email-smtp.eu-west-1.amazonaws.com'");
    // ...and the target's own role, not another one, may read the secret.
    const readers = Object.values(t.findResources('AWS::IAM::Policy')).filter((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes('secretsmanager:GetSecretValue'),
    );
    expect(readers.map((p) => p.Properties.Roles)).toContainEqual([f.s.resolve(role.roleName)]);
    expect(readers).toHaveLength(2); // the target's and the credentials handler's
  });

  test('an SES VPC endpoint DNS name known only at deploy time reaches the script as a token', () => {
    const s = new Stack(new App(), 'Vpce', { env: { account: '123456789012', region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(s, 'Vpc', {
      natGateways: 0,
      subnetConfiguration: [{ name: 'a', subnetType: ec2.SubnetType.PRIVATE_ISOLATED }],
    });
    const endpoint = vpc.addInterfaceEndpoint('Ses', {
      service: new ec2.InterfaceVpcEndpointService('com.amazonaws.eu-west-1.email-smtp', 587),
    });
    const dnsName = cdk.Fn.select(1, cdk.Fn.split(':', cdk.Fn.select(0, endpoint.vpcEndpointDnsEntries)));
    const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
    const credentials = new SesSmtpCredentials(s, 'Smtp', { identities: [identity], smtpEndpoint: dnsName });
    const lt = new ec2.LaunchTemplate(s, 'Lt', {
      userData: ec2.UserData.forLinux(),
      role: new iam.Role(s, 'R', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') }),
    });
    new SesRelay(s, 'Relay', { credentials }).configure(RelayTarget.fromLaunchTemplate(lt));
    const parts = userDataParts(Template.fromStack(s));
    const at = parts.findIndex((p) => typeof p === 'string' && p.endsWith("SES_HOST='"));
    expect(parts[at + 1]).toEqual({ 'Fn::Select': [1, expect.anything()] });
    expect(JSON.stringify(parts)).not.toContain('placeholder');
  });

  test('an env-agnostic stack is refused: the script must name the region', () => {
    const s = new Stack(new App(), 'Agnostic');
    const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
    const credentials = new SesSmtpCredentials(s, 'Smtp', { identities: [identity] });
    expect(() => new SesRelay(s, 'Relay', { credentials })).toThrow(
      /Agnostic\/Relay: credentials.smtpRegion is not known at synth time/,
    );
  });
});
