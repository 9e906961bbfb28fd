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
import { checkEmailAddress, checkHostName } from './private/checks';
import { validateProp } from './private/validate';

/** What receivers should do with mail that fails DMARC. */
export enum DmarcPolicy {
  NONE = 'none',
  QUARANTINE = 'quarantine',
  REJECT = 'reject',
}

/** One DNS record to create (where no hosted zone is given). */
export interface DnsRecord {
  /** CNAME, MX or TXT. */
  readonly recordType: string;
  /** The record's name. */
  readonly name: string;
  /** The record's value, as it goes in the zone. */
  readonly value: string;
}

export interface MailIdentityProps {
  /**
   * What to send from: `ses.Identity.domain('example.com')` (verified with Easy DKIM; the records
   * to create are listed in `dnsRecords`), `ses.Identity.publicHostedZone(zone)` (the DKIM, MAIL
   * FROM and DMARC records are created in the zone) or `ses.Identity.email('sender@example.com')`
   * (SES mails the address a verification link).
   */
  readonly identity: ses.Identity;
  /**
   * Subdomain used as custom MAIL FROM domain (MX and SPF records), for domain identities.
   * @default 'mail'
   */
  readonly mailFromSubdomain?: string;
  /**
   * Publish a DMARC record with this policy (domain identities).
   * @default - no DMARC record
   */
  readonly dmarcPolicy?: DmarcPolicy;
  /**
   * Create a configuration set whose bounce and complaint events go to an SNS topic.
   * @default false
   */
  readonly createConfigurationSet?: boolean;
  /**
   * Recipient addresses to verify while the account is in the SES sandbox.
   * @default - none
   */
  readonly sandboxRecipients?: string[];
}

/**
 * The SES sending identity with its DNS, and optional configuration set and sandbox recipients.
 *
 * @example
 * const mail = new MailIdentity(this, 'Mail', {
 *   identity: ses.Identity.publicHostedZone(zone), // DKIM, MAIL FROM and DMARC records made in the zone
 *   dmarcPolicy: DmarcPolicy.QUARANTINE,
 * });
 */
export class MailIdentity extends Construct {
  readonly identity: ses.EmailIdentity;
  /** The domain or the address. */
  readonly identityName: string;
  /** The custom MAIL FROM domain (domain identities). */
  readonly mailFromDomain?: string;
  /** The configuration set, with `createConfigurationSet`. */
  readonly configurationSet?: ses.ConfigurationSet;
  /** Topic of bounce and complaint events, with `createConfigurationSet`. */
  readonly eventTopic?: sns.Topic;
  /** DNS records still to create by hand (empty with a hosted zone, or for an address). */
  readonly dnsRecords: DnsRecord[] = [];

  constructor(scope: Construct, id: string, props: MailIdentityProps) {
    super(scope, id);
    const { identity } = props;
    // An address has an @; anything else (a token included: a zone's name) is a domain.
    const isAddress = !Token.isUnresolved(identity.value) && identity.value.includes('@');
    this.identityName = identity.value;
    for (const address of props.sandboxRecipients ?? []) {
      validateProp(this, 'sandboxRecipients', address, checkEmailAddress);
    }
    if (isAddress) {
      validateProp(this, 'identity', identity.value, checkEmailAddress);
      for (const [prop, given] of [
        ['dmarcPolicy', props.dmarcPolicy],
        ['mailFromSubdomain', props.mailFromSubdomain],
      ]) {
        if (given !== undefined) {
          throw new Error(
            `${this.node.path}: ${prop}: got ${JSON.stringify(given)} for the address identity ${identity.value}; it applies to domain identities only (ses.Identity.domain or ses.Identity.publicHostedZone)`,
          );
        }
      }
      this.identity = new ses.EmailIdentity(this, 'Identity', { identity });
    } else {
      const domain = identity.value;
      validateProp(this, 'identity', domain, (d) => checkHostName(d, 'domain'));
      this.mailFromDomain = `${props.mailFromSubdomain ?? 'mail'}.${domain}`;
      validateProp(this, 'mailFromSubdomain', this.mailFromDomain, (d) => checkHostName(d, 'MAIL FROM domain'));
      this.identity = new ses.EmailIdentity(this, 'Identity', { identity, mailFromDomain: this.mailFromDomain });
      const dmarc = props.dmarcPolicy ? `v=DMARC1; p=${props.dmarcPolicy};` : undefined;
      if (identity.hostedZone) {
        if (dmarc) {
          new route53.TxtRecord(this, 'Dmarc', {
            zone: identity.hostedZone,
            recordName: `_dmarc.${domain}`,
            values: [dmarc],
          });
        }
      } else {
        for (const r of this.identity.dkimRecords)
          this.dnsRecords.push({ recordType: 'CNAME', name: r.name, value: r.value });
        this.dnsRecords.push(
          {
            recordType: 'MX',
            name: this.mailFromDomain,
            value: `10 feedback-smtp.${Stack.of(this).region}.amazonses.com`,
          },
          { recordType: 'TXT', name: this.mailFromDomain, value: '"v=spf1 include:amazonses.com ~all"' },
        );
        if (dmarc) this.dnsRecords.push({ recordType: 'TXT', name: `_dmarc.${domain}`, value: `"${dmarc}"` });
      }
    }

    // Each recipient's id is its address: reordering the list replaces no identity.
    for (const address of new Set(props.sandboxRecipients ?? [])) {
      new ses.EmailIdentity(this, `SandboxRecipient-${address}`, { identity: ses.Identity.email(address) });
    }

    if (props.createConfigurationSet) {
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
