import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as ses from 'aws-cdk-lib/aws-ses';
import { AwsSolutionsChecks } from 'cdk-nag';
import { SesSmtpCredentials, type SesSmtpCredentialsProps } from '../lib';
import { CREDENTIALS_PROPERTY_KEYS, nagFindings, stableTemplate } from './helpers/template';

function stack(): Stack {
  const app = new App({ outdir: mkdtempSync(join(tmpdir(), 'ses-relay-cdk-')) });
  return new Stack(app, 'Test', { env: { account: '123456789012', region: 'eu-west-1' } });
}

function withCredentials(props: Partial<SesSmtpCredentialsProps> = {}) {
  const s = stack();
  const identity = new ses.EmailIdentity(s, 'Identity', { identity: ses.Identity.domain('example.com') });
  const credentials = new SesSmtpCredentials(s, 'Smtp', { identities: [identity], ...props });
  return {
    s,
    identity,
    credentials,
    get template() {
      return Template.fromStack(s);
    },
  };
}

describe('SesSmtpCredentials', () => {
  test('the user may only SendRawEmail from its identities, in the SMTP region', () => {
    const { template } = withCredentials({ fromAddresses: ['*@example.com'] });
    // Through a group the user joins: no policy on the user itself.
    template.hasResourceProperties('AWS::IAM::User', { Groups: [{ Ref: Match.stringLikeRegexp('SmtpGroup') }] });
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).not.toContain('"Users"');
    template.hasResourceProperties('AWS::IAM::Policy', {
      Groups: [{ Ref: Match.stringLikeRegexp('SmtpGroup') }],
      PolicyDocument: {
        Statement: [
          {
            Action: 'ses:SendRawEmail',
            Effect: 'Allow',
            Resource: {
              'Fn::Join': [
                '',
                [
                  'arn:',
                  { Ref: 'AWS::Partition' },
                  ':ses:eu-west-1:123456789012:identity/',
                  { Ref: Match.stringLikeRegexp('Identity') },
                ],
              ],
            },
            Condition: { StringLike: { 'ses:FromAddress': ['*@example.com'] } },
          },
        ],
      },
    });
  });

  test('no wildcard resource unless asked for', () => {
    const s = stack();
    expect(() => new SesSmtpCredentials(s, 'Smtp')).toThrow(
      'Test/Smtp: identities: got none; list the SES identities these credentials may send from, or set allowAnyIdentity: true',
    );
    new SesSmtpCredentials(s, 'Any', { allowAnyIdentity: true });
    Template.fromStack(s).hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Resource: Match.objectLike({
              'Fn::Join': ['', Match.arrayWith([':ses:eu-west-1:123456789012:identity/*'])],
            }),
          }),
        ],
      },
    });
  });

  test('a configuration set is added to the allowed resources', () => {
    const s = stack();
    const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
    const cs = ses.ConfigurationSet.fromConfigurationSetName(s, 'CS', 'relay-set');
    new SesSmtpCredentials(s, 'Smtp', { identities: [identity], configurationSets: [cs] });
    const doc = JSON.stringify(Template.fromStack(s).findResources('AWS::IAM::Policy'));
    expect(doc).toContain(':ses:eu-west-1:123456789012:configuration-set/relay-set');
    expect(doc).toContain(':ses:eu-west-1:123456789012:identity/example.com');
  });

  test('the custom resource carries no secret, only names; Data is read for the key id only', () => {
    const { template, credentials, s } = withCredentials({ port: 2587 });
    template.hasResourceProperties('Custom::SesSmtpCredentials', {
      UserName: { Ref: Match.stringLikeRegexp('SmtpUser') },
      SecretArn: { Ref: Match.stringLikeRegexp('SmtpSecret') },
      SmtpRegion: 'eu-west-1',
      Endpoint: 'email-smtp.eu-west-1.amazonaws.com',
      Port: '2587',
      ServiceTimeout: '300',
    });
    const props = Object.values(template.findResources('Custom::SesSmtpCredentials'))[0].Properties;
    expect(Object.keys(props).sort()).toEqual(CREDENTIALS_PROPERTY_KEYS);
    expect(s.resolve(credentials.accessKeyId)).toEqual({
      'Fn::GetAtt': [expect.stringMatching(/^Smtp/), 'AccessKeyId'],
    });
  });

  test('the SMTP region may differ from the stack region', () => {
    const { template } = withCredentials({ smtpRegion: 'us-west-2' });
    template.hasResourceProperties('Custom::SesSmtpCredentials', {
      SmtpRegion: 'us-west-2',
      Endpoint: 'email-smtp.us-west-2.amazonaws.com',
    });
    expect(JSON.stringify(template.findResources('AWS::IAM::Policy'))).toContain(
      ':ses:us-west-2:123456789012:identity/',
    );
  });

  test('the handler may touch only that user and that secret', () => {
    const { template } = withCredentials();
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('HandlerRole') }] },
    });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual(
      expect.arrayContaining([
        {
          Action: ['iam:CreateAccessKey', 'iam:DeleteAccessKey', 'iam:ListAccessKeys'],
          Effect: 'Allow',
          Resource: { 'Fn::GetAtt': [expect.stringMatching(/SmtpUser/), 'Arn'] },
        },
        {
          Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
          Effect: 'Allow',
          Resource: { Ref: expect.stringMatching(/SmtpSecret/) },
        },
      ]),
    );
    expect(JSON.stringify(statements)).not.toMatch(/"Resource":"\*"/);
  });

  test('one provider per stack, whatever the number of credentials', () => {
    const s = stack();
    const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
    new SesSmtpCredentials(s, 'A', { identities: [identity] });
    new SesSmtpCredentials(s, 'B', { identities: [identity], smtpRegion: 'us-east-1' });
    const t = Template.fromStack(s);
    t.resourceCountIs('Custom::SesSmtpCredentials', 2);
    t.resourceCountIs('AWS::Lambda::Function', 2); // our handler + the Provider framework
  });

  test('an existing user, and a customer KMS key the handler may use', () => {
    const s = stack();
    const user = new iam.User(s, 'Existing');
    const key = new kms.Key(s, 'Key', { enableKeyRotation: true });
    const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
    new SesSmtpCredentials(s, 'Smtp', { identities: [identity], user, encryptionKey: key });
    const t = Template.fromStack(s);
    t.resourceCountIs('AWS::IAM::User', 1);
    t.hasResourceProperties('AWS::SecretsManager::Secret', {
      KmsKeyId: { 'Fn::GetAtt': [Match.stringLikeRegexp('Key'), 'Arn'] },
    });
    expect(JSON.stringify(t.findResources('AWS::IAM::Policy'))).toContain(
      '"Action":["kms:GenerateDataKey","kms:Decrypt"]',
    );
  });

  test('grantRead lets an instance role read the secret', () => {
    const { s, credentials } = withCredentials();
    const role = new iam.Role(s, 'InstanceRole', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    credentials.grantRead(role);
    Template.fromStack(s).hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('InstanceRole') }],
      PolicyDocument: {
        Statement: [Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'] })],
      },
    });
  });

  test.each<[string, object, RegExp]>([
    ['region', { smtpRegion: 'eu west 1' }, /Test\/Smtp: smtpRegion: invalid region "eu west 1"/],
    ['port', { port: 2525 }, /Test\/Smtp: port: invalid port 2525: SES SMTP listens on/],
    ['endpoint', { endpoint: 'not a host' }, /Test\/Smtp: endpoint: invalid endpoint "not a host"/],
  ])('refuses a bad %s, naming the prop and the path', (_what, props, message) => {
    expect(() => withCredentials(props)).toThrow(message);
  });

  test('a region SES SMTP is not known in is a warning, not an error', () => {
    const { s } = withCredentials({ smtpRegion: 'xx-nowhere-1' });
    const warnings = s.node
      .findAll()
      .flatMap((c) => c.node.metadata.filter((m) => m.type === 'aws:cdk:warning').map((m) => String(m.data)));
    expect(warnings.join('\n')).toContain('SES is not known to offer SMTP in xx-nowhere-1');
  });

  test('cdk-nag AwsSolutions: no unsuppressed findings', () => {
    const { s } = withCredentials({ fromAddresses: ['*@example.com'] });
    expect(nagFindings(s.node.root as App, [new AwsSolutionsChecks(s.node.root)])).toEqual([]);
  });

  test('cdk-nag flags the wildcard of allowAnyIdentity: the helper does report findings', () => {
    const s = stack();
    new SesSmtpCredentials(s, 'Smtp', { allowAnyIdentity: true });
    expect(nagFindings(s.node.root as App, [new AwsSolutionsChecks(s.node.root)])).toEqual([
      expect.stringMatching(
        /^AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:ses:eu-west-1:123456789012:identity\/\*\] @ Test\/Smtp\/SendPolicy/,
      ),
    ]);
  });

  test('snapshot', () => {
    expect(stableTemplate(withCredentials().s)).toMatchSnapshot();
  });
});
