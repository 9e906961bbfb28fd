// MailIdentity: the sending identity in SES (a domain with Easy DKIM and a custom MAIL FROM
// domain, or an email address), its DNS records, and optionally a configuration set whose bounce
// and complaint events go to an SNS topic. Wraps aws-cdk-lib/aws-ses; re-implements nothing.
import { Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { assertHostName } from './bootstrap/options';
import { validateProp } from './private/validate';

/** What receivers should do with mail that fails DMARC. */
export enum DmarcPolicy {
  NONE = 'none',
  QUARANTINE = 'quarantine',
  REJECT = 'reject',
}

/** One DNS record to create (where no hosted zone is given). */
export interface DnsRecord {
  readonly type: string;
  readonly name: string;
  readonly value: string;
}

export interface MailIdentityProps {
  /**
   * Domain to send from, verified with Easy DKIM. Give this or `emailAddress`.
   * @default - none
   */
  readonly domain?: string;
  /**
   * Email address to send from (SES mails it a verification link). Give this or `domain`.
   * @default - none
   */
  readonly emailAddress?: string;
  /**
   * Route 53 public hosted zone of the domain: the DKIM, MAIL FROM and DMARC records are created
   * in it. Without it, `dnsRecords` lists what to create.
   * @default - no records created
   */
  readonly hostedZone?: route53.IPublicHostedZone;
  /**
   * Subdomain used as custom MAIL FROM domain (MX and SPF records), for domain identities.
   * @default 'mail'
   */
  readonly mailFromSubdomain?: string;
  /**
   * Publish a DMARC record with this policy.
   * @default - no DMARC record
   */
  readonly dmarcPolicy?: DmarcPolicy;
  /**
   * Create a configuration set whose bounce and complaint events go to an SNS topic.
   * @default false
   */
  readonly configurationSet?: boolean;
  /**
   * Recipient addresses to verify while the account is in the SES sandbox.
   * @default - none
   */
  readonly sandboxRecipients?: string[];
}

const EMAIL = /^[^\s@'"`$\\]+@[^\s@'"`$\\]+\.[^\s@'"`$\\]+$/;

function assertEmail(address: string): void {
  if (!EMAIL.test(address)) throw new Error(`invalid email address ${JSON.stringify(address)}: expected local@domain`);
}

/**
 * The SES sending identity with its DNS, and optional configuration set and sandbox recipients.
 *
 * @example
 * const mail = new MailIdentity(this, 'Mail', { domain: 'example.com', hostedZone: zone, dmarcPolicy: DmarcPolicy.QUARANTINE });
 */
export class MailIdentity extends Construct {
  readonly identity: ses.EmailIdentity;
  /** The domain or the address. */
  readonly identityName: string;
  /** The custom MAIL FROM domain (domain identities). */
  readonly mailFromDomain?: string;
  readonly configurationSet?: ses.ConfigurationSet;
  /** Topic of bounce and complaint events, with `configurationSet`. */
  readonly eventTopic?: sns.Topic;
  /** DNS records still to create by hand (empty with a hosted zone, or for an address). */
  readonly dnsRecords: DnsRecord[] = [];

  constructor(scope: Construct, id: string, props: MailIdentityProps) {
    super(scope, id);
    if ((props.domain === undefined) === (props.emailAddress === undefined)) {
      throw new Error(
        `${this.node.path}: give exactly one of domain (e.g. example.com) or emailAddress (e.g. sender@example.com)`,
      );
    }
    if (props.emailAddress !== undefined && props.hostedZone) {
      throw new Error(
        `${this.node.path}: hostedZone: an address identity has no DNS records; give domain with hostedZone, or drop hostedZone`,
      );
    }
    validateProp(this, 'domain', props.domain, (d) => assertHostName(d, 'domain'));
    validateProp(this, 'emailAddress', props.emailAddress, assertEmail);
    for (const r of props.sandboxRecipients ?? []) {
      validateProp(this, 'sandboxRecipients', r, assertEmail);
    }
    const region = Stack.of(this).region;

    if (props.domain !== undefined) {
      const domain = props.domain;
      this.identityName = domain;
      this.mailFromDomain = `${props.mailFromSubdomain ?? 'mail'}.${domain}`;
      validateProp(this, 'mailFromSubdomain', this.mailFromDomain, (d) => assertHostName(d, 'MAIL FROM domain'));
      if (props.hostedZone && !Token.isUnresolved(props.hostedZone.zoneName) && props.hostedZone.zoneName !== domain) {
        throw new Error(
          `${this.node.path}: hostedZone: the zone is ${props.hostedZone.zoneName}, not ${domain}; give the zone of the domain`,
        );
      }
      this.identity = new ses.EmailIdentity(this, 'Identity', {
        identity: props.hostedZone ? ses.Identity.publicHostedZone(props.hostedZone) : ses.Identity.domain(domain),
        mailFromDomain: this.mailFromDomain,
      });
      const dmarc = props.dmarcPolicy ? `v=DMARC1; p=${props.dmarcPolicy};` : undefined;
      if (props.hostedZone) {
        if (dmarc)
          new route53.TxtRecord(this, 'Dmarc', {
            zone: props.hostedZone,
            recordName: `_dmarc.${domain}`,
            values: [dmarc],
          });
      } else {
        for (const r of this.identity.dkimRecords)
          this.dnsRecords.push({ type: 'CNAME', name: r.name, value: r.value });
        this.dnsRecords.push(
          { type: 'MX', name: this.mailFromDomain, value: `10 feedback-smtp.${region}.amazonses.com` },
          { type: 'TXT', name: this.mailFromDomain, value: '"v=spf1 include:amazonses.com ~all"' },
        );
        if (dmarc) this.dnsRecords.push({ type: 'TXT', name: `_dmarc.${domain}`, value: `"${dmarc}"` });
      }
    } else {
      this.identityName = props.emailAddress as string;
      this.identity = new ses.EmailIdentity(this, 'Identity', { identity: ses.Identity.email(this.identityName) });
    }

    (props.sandboxRecipients ?? []).forEach((address, i) => {
      new ses.EmailIdentity(this, `SandboxRecipient${i}`, { identity: ses.Identity.email(address) });
    });

    if (props.configurationSet) {
      // SES publishes to an encrypted topic only if the key lets it.
      const key = new kms.Key(this, 'EventKey', { enableKeyRotation: true, description: 'ses-relay SES event topic' });
      key.addToResourcePolicy(
        new iam.PolicyStatement({
          principals: [new iam.ServicePrincipal('ses.amazonaws.com')],
          actions: ['kms:GenerateDataKey*', 'kms:Decrypt'],
          resources: ['*'],
          conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
        }),
      );
      this.eventTopic = new sns.Topic(this, 'Events', { masterKey: key, enforceSSL: true });
      this.configurationSet = new ses.ConfigurationSet(this, 'ConfigurationSet', {
        reputationMetrics: true,
        suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
      });
      this.configurationSet.addEventDestination('BounceAndComplaint', {
        destination: ses.EventDestination.snsTopic(this.eventTopic),
        events: [ses.EmailSendingEvent.BOUNCE, ses.EmailSendingEvent.COMPLAINT],
      });
    }
  }
}
