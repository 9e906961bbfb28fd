// MailIdentity: the SES identity (a domain with Easy DKIM and MAIL FROM, a hosted zone's domain, or
// an address), its DNS records, sandbox recipients and the configuration set, as the ready stack
// and on its own.
import { Stack } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import * as ses from 'aws-cdk-lib/aws-ses';
import { DmarcPolicy, MailIdentity } from '../lib';
import { relayStack, userDataParts } from './helpers/relay-stack';

describe('MailIdentity', () => {
  test('identity: domain with Easy DKIM and MAIL FROM; records to create are outputs', () => {
    const t = relayStack({ dmarcPolicy: DmarcPolicy.QUARANTINE }).template();
    t.hasResourceProperties('AWS::SES::EmailIdentity', {
      EmailIdentity: 'example.com',
      MailFromAttributes: { MailFromDomain: 'mail.example.com' },
    });
    const outputs = t.toJSON().Outputs;
    // Output ids come from each record's type and name, never from its position in the list.
    expect(Object.keys(outputs).filter((k) => k.startsWith('DnsRecord'))).toEqual([
      'DnsRecordCNAMEDkim1',
      'DnsRecordCNAMEDkim2',
      'DnsRecordCNAMEDkim3',
      'DnsRecordMXmailexamplecom',
      'DnsRecordTXTmailexamplecom',
      'DnsRecordTXTdmarcexamplecom',
    ]);
    expect(outputs.DnsRecordCNAMEDkim1.Value['Fn::Join'][1][0]).toBe('CNAME ');
    expect(outputs.DnsRecordMXmailexamplecom.Value).toBe(
      'MX mail.example.com 10 feedback-smtp.eu-west-1.amazonses.com',
    );
    expect(outputs.DnsRecordTXTmailexamplecom.Value).toBe('TXT mail.example.com "v=spf1 include:amazonses.com ~all"');
    expect(outputs.DnsRecordTXTdmarcexamplecom.Value).toBe('TXT _dmarc.example.com "v=DMARC1; p=quarantine;"');
    expect(outputs.NextStep.Value).toBe('npx ses-relay doctor --smtp-region eu-west-1 --identity example.com');
    expect(outputs.RelayPort.Value).toBe('587');
    expect(outputs.SecretArn.Value).toEqual({ Ref: expect.stringMatching(/^SmtpSecret/) });
    expect(outputs.RelayHost.Value).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^HubLoadBalancer/), 'DNSName'] });
  });

  test('sandbox recipients keep their resources whatever their order in the list', () => {
    const ids = (recipients: string[]) =>
      Object.entries(relayStack({ sandboxRecipients: recipients }).template().findResources('AWS::SES::EmailIdentity'))
        .filter(([, r]) => r.Properties.EmailIdentity.includes('@'))
        .map(([id, r]) => `${id}=${r.Properties.EmailIdentity}`)
        .sort();
    const forward = ids(['a@example.org', 'b@example.org']);
    expect(forward).toHaveLength(2);
    expect(ids(['b@example.org', 'a@example.org'])).toEqual(forward);
  });

  test('with a hosted zone, the DKIM, MAIL FROM and DMARC records are created and no record is left to do', () => {
    const t = relayStack({ hostedZoneId: 'Z0123456789ABC', dmarcPolicy: DmarcPolicy.REJECT }).template();
    const records = Object.values(t.findResources('AWS::Route53::RecordSet')).map((r) => r.Properties);
    expect(records.filter((r) => r.Type === 'CNAME')).toHaveLength(3);
    expect(records).toContainEqual(
      expect.objectContaining({
        Type: 'MX',
        Name: 'mail.example.com.',
        ResourceRecords: ['10 feedback-smtp.eu-west-1.amazonses.com'],
      }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({
        Type: 'TXT',
        Name: 'mail.example.com.',
        ResourceRecords: ['"v=spf1 include:amazonses.com ~all"'],
      }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({ Type: 'TXT', Name: '_dmarc.example.com.', ResourceRecords: ['"v=DMARC1; p=reject;"'] }),
    );
    expect(records.every((r) => r.HostedZoneId === 'Z0123456789ABC')).toBe(true);
    expect(Object.keys(t.toJSON().Outputs).filter((k) => k.startsWith('DnsRecord'))).toEqual([]);
  });

  test('an email address identity, sandbox recipients', () => {
    const t = relayStack({ emailAddress: 'sender@example.org', sandboxRecipients: ['qa@example.org'] }).template();
    t.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'sender@example.org' });
    t.hasResourceProperties('AWS::SES::EmailIdentity', { EmailIdentity: 'qa@example.org' });
    expect(t.toJSON().Outputs.NextStep.Value).toBe(
      'npx ses-relay doctor --smtp-region eu-west-1 --identity sender@example.org',
    );
  });

  test('configuration set: bounce and complaint events to an encrypted SNS topic, named in the relays user data', () => {
    const t = relayStack().template();
    t.hasResourceProperties('AWS::SES::ConfigurationSetEventDestination', {
      EventDestination: {
        Enabled: true,
        MatchingEventTypes: ['bounce', 'complaint'],
        SnsDestination: { TopicARN: { Ref: Match.stringLikeRegexp('MailEvents') } },
      },
    });
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    expect(userDataParts(t)).toContainEqual({ Ref: expect.stringMatching(/^MailConfigurationSet/) });
  });

  test.each<[string, () => void, RegExp]>([
    [
      'a bad domain',
      () => new MailIdentity(new Stack(), 'M', { identity: ses.Identity.domain('exa mple.com') }),
      /^Default\/M: identity: invalid domain "exa mple\.com"/,
    ],
    [
      'a bad address',
      () => new MailIdentity(new Stack(), 'M', { identity: ses.Identity.email('nobody@') }),
      /^Default\/M: identity: invalid email address "nobody@": expected local@domain/,
    ],
    [
      'DMARC for an address',
      () =>
        new MailIdentity(new Stack(), 'M', {
          identity: ses.Identity.email('a@example.org'),
          dmarcPolicy: DmarcPolicy.REJECT,
        }),
      /^Default\/M: dmarcPolicy: got "reject" for the address identity a@example\.org; it applies to domain identities only/,
    ],
  ])('refuses %s', (_what, make, message) => {
    expect(make).toThrow(message);
  });
});
