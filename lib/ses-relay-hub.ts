// SesRelayHub: a Postfix relay hub for a VPC. An Auto Scaling group across availability zones,
// behind an internal Network Load Balancer on the submission port, hardened by default.
import { Annotations, Duration, Token, Validations } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import { validateProp } from './private/validate';
import { RelayTarget } from './relay-target';
import { SesRelay } from './ses-relay';
import type { ISesSmtpCredentials } from './ses-smtp-credentials';

export interface SesRelayHubProps {
  /** The VPC the hub serves. */
  readonly vpc: ec2.IVpc;
  /** The credentials the hub sends with. */
  readonly credentials: ISesSmtpCredentials;
  /**
   * IPv4 networks (CIDR, /8 to /32) allowed to relay: opened on the load balancer and trusted by
   * Postfix. Never 0.0.0.0/0.
   */
  readonly relayNetworks: string[];
  /**
   * Security groups additionally allowed to reach the load balancer. Postfix still relays only
   * for `relayNetworks`, so their instances must be inside those networks.
   * @default - none
   */
  readonly allowedSecurityGroups?: ec2.ISecurityGroup[];
  /**
   * Port the load balancer listens on, 1 to 65535.
   * @default 587
   */
  readonly listenerPort?: number;
  /**
   * The configuration set named in `X-SES-CONFIGURATION-SET` on every message that carries none
   * at its top level.
   * @default - no header added
   */
  readonly configurationSet?: ses.IConfigurationSet;
  /**
   * Recipients per second (as SES counts them) the hub keeps to, all its relays together: each
   * keeps to its share, rate / relayCount.
   * @default - the account's SES maximum send rate, read at boot
   */
  readonly maxSendRate?: number;
  /**
   * Instance type of the relays.
   * @default t4g.small (Graviton)
   */
  readonly instanceType?: ec2.InstanceType;
  /**
   * How many relays the hub runs, 1 to 1000 (at least one per availability zone is advised).
   * @default 2
   */
  readonly relayCount?: number;
  /**
   * Subnets of the relays and of the load balancer: private, with a route to SES (NAT or an SES
   * VPC endpoint).
   * @default - the VPC's private subnets with egress
   */
  readonly vpcSubnets?: ec2.SubnetSelection;
}

/** Postfix listens on 25 on the relays; clients reach the load balancer on the listener port. */
const RELAY_PORT = 25;
/** Where a relay takes a leaving peer's queue (the instance program's hand-over port). */
const PEER_PORT = 2525;

/**
 * A mail relay hub for a VPC: Postfix on Amazon Linux 2023 in an Auto Scaling group behind an
 * internal Network Load Balancer, relaying for the listed networks only, through SES.
 *
 * @example
 * const hub = new SesRelayHub(this, 'Hub', { vpc, credentials, relayNetworks: ['10.0.0.0/16'] });
 * // applications send to hub.loadBalancer.loadBalancerDnsName on hub.listenerPort
 */
export class SesRelayHub extends Construct {
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly listenerPort: number;
  /** Security group of the load balancer: add peers here to let more clients in. */
  readonly securityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string, props: SesRelayHubProps) {
    super(scope, id);
    this.listenerPort = props.listenerPort ?? 587;
    validateProp(this, 'listenerPort', this.listenerPort, (p) => {
      if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`invalid port ${p}: expected 1 to 65535`);
    });
    if (props.relayNetworks.length === 0) {
      throw new Error(
        `${this.node.path}: relayNetworks: got none; list the client CIDRs allowed to relay, e.g. the VPC CIDR`,
      );
    }
    const subnets = props.vpcSubnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    const relayCount = props.relayCount ?? 2;
    this.securityGroup = new ec2.SecurityGroup(this, 'LoadBalancerSecurityGroup', {
      vpc: props.vpc,
      description: 'ses-relay hub load balancer: SMTP from the allowed networks',
      allowAllOutbound: false,
    });
    const instanceSecurityGroup = this.instanceSecurityGroup(props.vpc, props.credentials.smtpPort);
    const launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage: ec2.MachineImage.latestAmazonLinux2023({ cpuType: ec2.AmazonLinuxCpuType.ARM_64 }),
      instanceType: props.instanceType ?? ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
      role: this.instanceRole(),
      securityGroup: instanceSecurityGroup,
      userData: ec2.UserData.forLinux(),
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      associatePublicIpAddress: false,
      detailedMonitoring: true,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });

    // Day 2: a change of anything the relays are made of (the key, the settings, the program) is a
    // new launch template version, rolled out one relay at a time with capacity kept (one extra
    // relay while it lasts); each new relay must signal that it authenticated to SES, or the
    // update fails and rolls back before a healthy relay is replaced by a broken one.
    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'AutoScalingGroup', {
      vpc: props.vpc,
      vpcSubnets: subnets,
      launchTemplate,
      minCapacity: relayCount,
      maxCapacity: relayCount + 1,
      healthChecks: autoscaling.HealthChecks.withAdditionalChecks({
        additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB],
        gracePeriod: Duration.minutes(10),
      }),
      signals: autoscaling.Signals.waitForAll({ timeout: Duration.minutes(15) }),
      updatePolicy: autoscaling.UpdatePolicy.rollingUpdate({ maxBatchSize: 1, minInstancesInService: relayCount }),
    });

    // Every relay sends at once: each keeps to its share of the account's rate. Postfix relays for
    // the relay networks on 25, and takes a leaving peer's queue from the relays' subnets on 2525.
    // SesRelay checks the networks, the count and the rate (its props have the hub's names).
    const relay = new SesRelay(this, 'Relay', {
      credentials: props.credentials,
      relayNetworks: props.relayNetworks,
      peerNetworks: peerNetworks(this, props.vpc, subnets),
      configurationSet: props.configurationSet,
      maxSendRate: props.maxSendRate,
      relayCount,
      group: this.autoScalingGroup,
    });
    relay.configure(RelayTarget.fromLaunchTemplate(launchTemplate));
    for (const cidr of relay.relayNetworks) {
      this.securityGroup.addIngressRule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(this.listenerPort), `SMTP from ${cidr}`);
    }
    for (const peer of props.allowedSecurityGroups ?? []) {
      this.securityGroup.addIngressRule(peer, ec2.Port.tcp(this.listenerPort), 'SMTP from an allowed security group');
    }
    this.securityGroup.addEgressRule(instanceSecurityGroup, ec2.Port.tcp(RELAY_PORT), 'to the relays');
    this.loadBalancer = this.networkLoadBalancer(props.vpc, subnets);
    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'Relays are replaced on failed load-balancer health checks; scaling notifications belong to the account operations setup',
    });
  }

  /** SMTP in from the load balancer only, the hand-over port among relays, HTTPS and SES SMTP out. */
  private instanceSecurityGroup(vpc: ec2.IVpc, smtpPort: number): ec2.SecurityGroup {
    const group = new ec2.SecurityGroup(this, 'InstanceSecurityGroup', {
      vpc,
      description:
        'ses-relay hub instances: SMTP from the load balancer only; HTTPS out to SES, Secrets Manager, packages',
      allowAllOutbound: false,
    });
    group.addIngressRule(this.securityGroup, ec2.Port.tcp(RELAY_PORT), 'SMTP from the load balancer');
    // A relay leaving the group hands its queue to another relay, directly (the load balancer
    // preserves client addresses, so it cannot route a relay back to itself), on the hand-over port.
    group.addIngressRule(group, ec2.Port.tcp(PEER_PORT), 'Queue hand-over from peer relays');
    group.addEgressRule(group, ec2.Port.tcp(PEER_PORT), 'Queue hand-over to peer relays');
    group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(443), 'AWS APIs and package repositories');
    group.addEgressRule(ec2.Peer.anyIpv4(), ec2.Port.tcp(smtpPort), 'SES SMTP');
    return group;
  }

  /**
   * The relays' role. Session Manager access without the AmazonSSMManagedInstanceCore managed
   * policy: only the actions a shell session needs.
   */
  private instanceRole(): iam.Role {
    const role = new iam.Role(this, 'InstanceRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: [
          'ssm:UpdateInstanceInformation',
          'ssmmessages:CreateControlChannel',
          'ssmmessages:CreateDataChannel',
          'ssmmessages:OpenControlChannel',
          'ssmmessages:OpenDataChannel',
        ],
        resources: ['*'],
      }),
    );
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Session Manager channel actions (ssmmessages:*, ssm:UpdateInstanceInformation) and the describe calls of a draining relay (autoscaling:DescribeAutoScalingInstances, autoscaling:DescribeAutoScalingGroups, ec2:DescribeInstances) support no resource-level scoping',
      },
      {
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason:
          'Inline on purpose: the managed AmazonSSMManagedInstanceCore grants far more than a shell session needs',
      },
    );
    return role;
  }

  /** The internal load balancer: TCP pass-through on the listener port to Postfix on the relays. */
  private networkLoadBalancer(vpc: ec2.IVpc, subnets: ec2.SubnetSelection): elbv2.NetworkLoadBalancer {
    const loadBalancer = new elbv2.NetworkLoadBalancer(this, 'LoadBalancer', {
      vpc,
      vpcSubnets: subnets,
      internetFacing: false,
      crossZoneEnabled: true,
      securityGroups: [this.securityGroup],
    });
    loadBalancer.addListener('Smtp', { port: this.listenerPort, protocol: elbv2.Protocol.TCP }).addTargets('Relays', {
      port: RELAY_PORT,
      protocol: elbv2.Protocol.TCP,
      targets: [this.autoScalingGroup],
      preserveClientIp: true,
      // A relay that cannot deliver, or is draining, stops listening: this check takes it out.
      healthCheck: {
        protocol: elbv2.Protocol.TCP,
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      deregistrationDelay: Duration.seconds(30),
    });
    const smtp =
      'SMTP relay inside the VPC: TCP pass-through to Postfix, which logs every session with the client address and enforces TLS to SES';
    Validations.of(loadBalancer).acknowledge(
      { id: 'AwsSolutions-ELB2', reason: smtp },
      { id: 'NIST.800.53.R5-ELBLoggingEnabled', reason: smtp },
      {
        id: 'NIST.800.53.R5-ELBv2ACMCertificateRequired',
        reason: `${smtp}; a TLS listener needs a certificate for an internal name`,
      },
      {
        id: 'NIST.800.53.R5-ELBDeletionProtectionEnabled',
        reason: 'The stack owns the relay; deletion protection would make cdk destroy fail',
      },
    );
    return loadBalancer;
  }
}

/**
 * The CIDRs of the relays' subnets, so that Postfix accepts a leaving peer's queue; none (with a
 * warning) when they are not known at synth time (an imported VPC without them).
 */
function peerNetworks(scope: Construct, vpc: ec2.IVpc, subnets: ec2.SubnetSelection): string[] {
  try {
    const cidrs = vpc.selectSubnets(subnets).subnets.map((s) => s.ipv4CidrBlock);
    if (cidrs.every((c) => !Token.isUnresolved(c))) return cidrs;
  } catch {
    // imported subnets without their CIDRs
  }
  Annotations.of(scope).addWarningV2(
    'ses-relay:peerNetworks',
    "the relay subnets' CIDRs are not known at synth time: a terminating relay cannot hand its queue to a peer",
  );
  return [];
}
