// SesRelayHub: the relay hub for a VPC (hardened launch template, group across zones, internal load
// balancer), its day 2 (rolling update, signals, drain hook, grants), its ingress and what its
// relays' user data says, as the ready stack builds it; and the checks of its props.
import { App, Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SesRelayHub, type SesRelayHubProps, SesSmtpCredentials } from '../lib';
import { PROGRAM_PATH, programSha256 } from '../lib/bootstrap/program';
import { relayStack, userDataParts } from './helpers/relay-stack';

describe('SesRelayHub', () => {
  test('the relay hub: hardened launch template, ASG across AZs, internal NLB 587 -> 25', () => {
    const t = relayStack().template();
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 1 },
        BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { Encrypted: true, VolumeSize: 8, VolumeType: 'gp3' } }],
        NetworkInterfaces: [Match.objectLike({ AssociatePublicIpAddress: false })],
        ImageId: { Ref: Match.stringLikeRegexp('al2023') },
      }),
    });
    expect(JSON.stringify(t.findResources('AWS::EC2::LaunchTemplate'))).not.toContain('KeyName');
    t.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '2',
      MaxSize: '3',
      VPCZoneIdentifier: [
        { Ref: Match.stringLikeRegexp('VpcrelaySubnet1') },
        { Ref: Match.stringLikeRegexp('VpcrelaySubnet2') },
      ],
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internal', Type: 'network' });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 587, Protocol: 'TCP' });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { Port: 25, Protocol: 'TCP' });
  });

  test('day 2: a rolling update one relay at a time, capacity kept, each new relay signalling; a drain hook', () => {
    const t = relayStack().template();
    const [asgId, asg] = Object.entries(t.findResources('AWS::AutoScaling::AutoScalingGroup'))[0];
    expect(asg.CreationPolicy).toEqual({ ResourceSignal: { Count: 2, Timeout: 'PT15M' } });
    expect(asg.UpdatePolicy).toEqual({
      AutoScalingRollingUpdate: expect.objectContaining({
        MaxBatchSize: 1,
        MinInstancesInService: 2,
        WaitOnResourceSignals: true,
        PauseTime: 'PT15M',
      }),
      AutoScalingScheduledAction: { IgnoreUnmodifiedGroupSizeProperties: true },
    });
    // The drain hook is part of the group itself: a separate hook resource would be deleted before
    // the group on stack deletion, and the relays would go without draining.
    expect(asg.Properties.LifecycleHookSpecificationList).toEqual([
      {
        LifecycleHookName: 'ses-relay-drain',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 600,
        DefaultResult: 'CONTINUE',
      },
    ]);
    t.resourceCountIs('AWS::AutoScaling::LifecycleHook', 0);
    // The relays know the hook and the resource to signal, and the group refers to the launch
    // template's latest version: a new key (the user data names it) is a new version, new relays.
    const text = JSON.stringify(userDataParts(t));
    expect(text).toContain("LIFECYCLE_HOOK='ses-relay-drain'");
    expect(text).toContain(`SIGNAL_RESOURCE='SesRelay/${asgId}'`);
    expect(asg.Properties.LaunchTemplate.Version).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^HubLaunchTemplate/), 'LatestVersionNumber'],
    });
    expect(userDataParts(t)).toContainEqual({ 'Fn::GetAtt': [expect.stringMatching(/^Smtp/), 'AccessKeyId'] });
    // What the relays may ask, statement by statement: their own group (by the name CloudFormation
    // gives it), the describe calls that have no resource, this stack's signal (granted by the group's
    // signals).
    const statements = Object.values(t.findResources('AWS::IAM::Policy'))
      .filter((p) => JSON.stringify(p.Properties.Roles ?? []).includes('HubInstanceRole'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement);
    const groupArn = JSON.stringify(
      statements.find((st) => JSON.stringify(st.Action).includes('CompleteLifecycleAction'))?.Resource,
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: [
          'autoscaling:CompleteLifecycleAction',
          'autoscaling:RecordLifecycleActionHeartbeat',
          'autoscaling:SetInstanceHealth',
        ],
        Resource: expect.anything(),
      }),
    );
    expect(groupArn).toContain(`:autoScalingGroup:*:autoScalingGroupName/SesRelay-${asgId}-*`);
    expect(statements).toContainEqual(
      expect.objectContaining({
        Action: [
          'autoscaling:DescribeAutoScalingInstances',
          'autoscaling:DescribeAutoScalingGroups',
          'ec2:DescribeInstances',
        ],
        Resource: '*',
      }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: 'cloudformation:SignalResource', Resource: { Ref: 'AWS::StackId' } }),
    );
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckProtocol: 'TCP',
      HealthCheckIntervalSeconds: 10,
      TargetGroupAttributes: Match.arrayWith([{ Key: 'deregistration_delay.timeout_seconds', Value: '30' }]),
    });
  });

  test('ingress only from the allowed networks, never 0.0.0.0/0; the relays only from the NLB', () => {
    const t = relayStack({ relayNetworks: ['10.0.0.0/16', '192.168.10.0/24'] }).template();
    const groups = Object.values(t.findResources('AWS::EC2::SecurityGroup')).map((g) => g.Properties);
    const ingress = groups.flatMap((g) => g.SecurityGroupIngress ?? []);
    expect(ingress.map((r: { CidrIp?: string }) => r.CidrIp).sort()).toEqual(['10.0.0.0/16', '192.168.10.0/24']);
    const fromNlb = Object.values(t.findResources('AWS::EC2::SecurityGroupIngress')).map((r) => r.Properties);
    expect(fromNlb).toEqual([
      expect.objectContaining({
        FromPort: 25,
        ToPort: 25,
        SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/LoadBalancerSecurityGroup/), 'GroupId'] },
      }),
      // ...and from each other on the hand-over port: a terminating relay hands its queue to a peer.
      expect.objectContaining({
        FromPort: 2525,
        ToPort: 2525,
        GroupId: { 'Fn::GetAtt': [expect.stringMatching(/InstanceSecurityGroup/), 'GroupId'] },
        SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/InstanceSecurityGroup/), 'GroupId'] },
      }),
    ]);
    // Postfix relays for the allowed networks on 25, and takes a peer's queue from the relays'
    // own subnets on 2525 only.
    expect(JSON.stringify(userDataParts(t))).toContain(
      "RELAY_NETWORKS='10.0.0.0/16 192.168.10.0/24'\\nPEER_NETWORKS='10.0.2.0/24 10.0.3.0/24'",
    );
  });

  test('the user data names the key, the secret ARN and region, and fetches the program: a few KB', () => {
    const t = relayStack().template();
    const parts = userDataParts(t);
    expect(parts.filter((p) => typeof p !== 'string')).toEqual([
      { 'Fn::GetAtt': [expect.stringMatching(/^Smtp/), 'AccessKeyId'] },
      { Ref: expect.stringMatching(/^SmtpSecret/) },
      { Ref: expect.stringMatching(/^MailConfigurationSet/) },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub syntax
      { 'Fn::Sub': 'cdk-hnb659fds-assets-${AWS::AccountId}-eu-west-1' },
    ]);
    const text = parts
      .map((p) =>
        typeof p === 'string' ? p : 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:SmtpSecretABCDEFGH-AbCdEf',
      )
      .join('');
    expect(text).toContain("SECRET_REGION='eu-west-1'");
    expect(text).toContain(`echo "${programSha256()}  $archive" | sha256sum -c --quiet`);
    expect(text).toContain(`bash ${PROGRAM_PATH}/boot.sh`);
    expect(text).not.toMatch(/password=|AKIA[0-9A-Z]{16}/i);
    expect(Buffer.byteLength(text)).toBeLessThan(4096);
  });

  test('send rate: read at boot with ses:GetAccount by default, or fixed by maxSendRate', () => {
    const byDefault = relayStack().template();
    // The hub's two relays each keep to half of the account's rate.
    expect(JSON.stringify(userDataParts(byDefault))).toContain("MAX_SEND_RATE='0'\\nRELAY_COUNT='2'\\n");
    byDefault.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('HubInstanceRole') }],
      PolicyDocument: { Statement: Match.arrayWith([{ Action: 'ses:GetAccount', Effect: 'Allow', Resource: '*' }]) },
    });
    const fixed = relayStack({ maxSendRate: 14 });
    expect(JSON.stringify(userDataParts(fixed.template()))).toContain("MAX_SEND_RATE='14'");
    expect(JSON.stringify(fixed.template().findResources('AWS::IAM::Policy'))).not.toContain('ses:GetAccount');
  });

  test('a hub needs concrete networks, a listener port and a relay count in range', () => {
    const s = new Stack(new App(), 'S', { env: { region: 'eu-west-1' } });
    const vpc = new ec2.Vpc(s, 'Vpc');
    const credentials = new SesSmtpCredentials(s, 'Smtp', { allowAnyIdentity: true });
    const hub = (id: string, extra: Partial<SesRelayHubProps>) =>
      new SesRelayHub(s, id, { vpc, credentials, relayNetworks: ['10.0.0.0/16'], ...extra });
    expect(() => hub('Hub', { listenerPort: 70000 })).toThrow(
      'S/Hub: listenerPort: invalid port 70000: expected 1 to 65535',
    );
    const range = "how many relays share the account's send rate, a whole number from 1 to 1000";
    expect(() => hub('Hub2', { relayCount: 0 })).toThrow(`S/Hub2/Relay: relayCount: invalid relay count 0: ${range}`);
    expect(() => hub('Hub3', { relayCount: 2.5 })).toThrow(
      `S/Hub3/Relay: relayCount: invalid relay count 2.5: ${range}`,
    );
  });
});
