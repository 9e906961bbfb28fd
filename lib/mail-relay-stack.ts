// MailRelayStack: the ready-to-deploy mail relay. A sending identity, SMTP credentials, a VPC
// and a relay hub in it; outputs tell what is left to do.
import { CfnOutput, Duration, Stack, type StackProps, Token, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as ses from 'aws-cdk-lib/aws-ses';
import type { Construct } from 'constructs';
import { type DmarcPolicy, MailIdentity } from './mail-identity';
import { SesRelayHub } from './ses-relay-hub';
import { SesSmtpCredentials } from './ses-smtp-credentials';

export interface MailRelayStackProps extends StackProps {
  /**
   * Domain to send from. Give this or `emailAddress`.
   * @default 'example.com' when neither is given
   */
  readonly domain?: string;
  /**
   * Email address to send from instead of a domain.
   * @default - a domain identity
   */
  readonly emailAddress?: string;
  /**
   * Route 53 hosted zone id of the domain: DNS records are created there.
   * @default - the records to create are listed in the outputs
   */
  readonly hostedZoneId?: string;
  /**
   * DMARC policy to publish.
   * @default - no DMARC record
   */
  readonly dmarcPolicy?: DmarcPolicy;
  /**
   * Create a configuration set with bounce and complaint events to SNS, named on every message.
   * @default true
   */
  readonly createConfigurationSet?: boolean;
  /**
   * Recipients to verify while the account is in the SES sandbox.
   * @default - none
   */
  readonly sandboxRecipients?: string[];
  /**
   * Restrict the From address (`ses:FromAddress`), e.g. `*@example.com`.
   * @default - any address of the identity
   */
  readonly fromAddresses?: string[];
  /**
   * CIDR of the VPC the stack creates.
   * @default '10.0.0.0/16'
   */
  readonly vpcCidr?: string;
  /**
   * IPv4 networks (CIDR) allowed to relay through the hub.
   * @default - the VPC CIDR
   */
  readonly relayNetworks?: string[];
  /**
   * How many relays the hub runs, 1 to 1000.
   * @default 2
   */
  readonly relayCount?: number;
  /**
   * SES SMTP port the relays use.
   * @default 587
   */
  readonly smtpPort?: number;
  /**
   * Recipients per second the relays keep to together (the account's SES maximum send rate).
   * @default - read at boot from SES
   */
  readonly maxSendRate?: number;
  /**
   * Rotate the SMTP credentials' access key on a schedule (see `rotationPeriod`).
   * @default true
   */
  readonly rotation?: boolean;
  /**
   * How often the access key rotates, 1 to 365 whole days; relays pick up the new key within
   * minutes and the previous key stays valid until the next rotation.
   * @default Duration.days(30)
   */
  readonly rotationPeriod?: Duration;
}

/**
 * The mail relay: `npx cdk deploy -c domain=example.com -c hostedZoneId=Z123...`.
 *
 * @example
 * new MailRelayStack(app, 'SesRelay', { env: { region: 'eu-west-1' }, domain: 'example.com' });
 */
export class MailRelayStack extends Stack {
  readonly mail: MailIdentity;
  readonly credentials: SesSmtpCredentials;
  readonly vpc: ec2.Vpc;
  readonly hub: SesRelayHub;

  constructor(scope: Construct, id: string, props: MailRelayStackProps = {}) {
    super(scope, id, { description: 'ses-relay: mail from EC2 through Amazon SES with Postfix', ...props });
    this.mail = new MailIdentity(this, 'Mail', {
      identity: this.identity(props),
      dmarcPolicy: props.dmarcPolicy,
      createConfigurationSet: props.createConfigurationSet ?? true,
      sandboxRecipients: props.sandboxRecipients,
    });
    this.credentials = new SesSmtpCredentials(this, 'Smtp', {
      identities: [this.mail.identity],
      configurationSets: this.mail.configurationSet ? [this.mail.configurationSet] : undefined,
      fromAddresses: props.fromAddresses,
      smtpPort: props.smtpPort,
      encryptionKey: new kms.Key(this, 'SecretKey', {
        enableKeyRotation: true,
        description: 'ses-relay SMTP credentials',
      }),
      rotationPeriod: props.rotation === false ? undefined : (props.rotationPeriod ?? Duration.days(30)),
    });

    const vpcCidr = props.vpcCidr ?? '10.0.0.0/16';
    const flowLogs = new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_YEAR });
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(vpcCidr),
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'relay', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      flowLogs: {
        Rejected: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogs),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });
    Validations.of(this.vpc).acknowledge(
      {
        id: 'NIST.800.53.R5-VPCDefaultSecurityGroupClosed',
        reason:
          'Nothing uses the default security group; apps with the recommended feature flags (@aws-cdk/aws-ec2:restrictDefaultSecurityGroup, as cdk.json has) close it with a custom resource',
      },
      {
        id: 'NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW',
        reason: 'The public subnets only hold the NAT gateway the private relays reach SES through',
      },
      {
        id: 'NIST.800.53.R5-IAMNoInlinePolicy',
        reason: 'The flow-log role policy generated by CDK, scoped to the flow-log group',
      },
    );
    Validations.of(flowLogs).acknowledge({
      id: 'NIST.800.53.R5-CloudWatchLogGroupEncrypted',
      reason: 'CloudWatch Logs encrypts the group at rest; rejected-flow records hold no secret',
    });
    this.hub = new SesRelayHub(this, 'Hub', {
      vpc: this.vpc,
      credentials: this.credentials,
      relayNetworks: props.relayNetworks ?? [vpcCidr],
      configurationSet: this.mail.configurationSet,
      maxSendRate: props.maxSendRate,
      relayCount: props.relayCount,
    });

    new CfnOutput(this, 'RelayHost', {
      description: 'Send mail to this host (inside the VPC)',
      value: this.hub.loadBalancer.loadBalancerDnsName,
    });
    new CfnOutput(this, 'RelayPort', { value: String(this.hub.listenerPort) });
    new CfnOutput(this, 'SecretArn', {
      description: 'Secret holding the SMTP user name and password (not the values)',
      value: this.credentials.secret.secretArn,
    });
    // Each output's id is its record's type and name (a DKIM name is a token: its position among
    // the three DKIM records, which SES fixes), never its position in the list.
    let dkim = 0;
    for (const r of this.mail.dnsRecords) {
      const name = Token.isUnresolved(r.name) ? `Dkim${++dkim}` : r.name.replace(/[^A-Za-z0-9]/g, '');
      new CfnOutput(this, `DnsRecord${r.recordType}${name}`, {
        description: 'DNS record to create',
        value: `${r.recordType} ${r.name} ${r.value}`,
      });
    }
    new CfnOutput(this, 'NextStep', {
      value: `npx ses-relay doctor --smtp-region ${this.credentials.smtpRegion} --identity ${this.mail.identityName}`,
    });
  }

  /** The identity the props name: exactly one of domain (default example.com) or emailAddress. */
  private identity(props: MailRelayStackProps): ses.Identity {
    if (props.emailAddress !== undefined) {
      for (const [prop, given] of [
        ['domain', props.domain],
        ['hostedZoneId', props.hostedZoneId],
      ]) {
        if (given !== undefined) {
          throw new Error(
            `${this.node.path}: ${prop}: got ${JSON.stringify(given)} with emailAddress ${JSON.stringify(props.emailAddress)}; give a domain (with its hostedZoneId) or an emailAddress, not both`,
          );
        }
      }
      return ses.Identity.email(props.emailAddress);
    }
    const domain = props.domain ?? 'example.com';
    if (props.hostedZoneId === undefined) return ses.Identity.domain(domain);
    const zone = route53.PublicHostedZone.fromHostedZoneAttributes(this, 'Zone', {
      hostedZoneId: props.hostedZoneId,
      zoneName: domain,
    });
    return ses.Identity.publicHostedZone(zone);
  }
}
