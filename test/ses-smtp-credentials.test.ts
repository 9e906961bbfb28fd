import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Duration, Lazy, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as ses from 'aws-cdk-lib/aws-ses';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
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
    const { template, credentials, s } = withCredentials({ smtpPort: 2587 });
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

  test('the handlers may touch only the users the construct makes (their path) and that secret', () => {
    const { template } = withCredentials();
    template.hasResourceProperties('AWS::IAM::User', { Path: '/ses-relay/Test/' });
    template.hasResourceProperties('Custom::SesSmtpCredentials', { OwnsUserKeys: 'true' });
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: Match.stringLikeRegexp('HandlerRole') }] },
    });
    const statements = Object.values(policies).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toEqual(
      expect.arrayContaining([
        {
          Action: ['iam:CreateAccessKey', 'iam:DeleteAccessKey', 'iam:GetAccessKeyLastUsed', 'iam:ListAccessKeys'],
          Effect: 'Allow',
          Resource: {
            'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':iam::123456789012:user/ses-relay/Test/*']],
          },
        },
        {
          Action: [
            'secretsmanager:DescribeSecret',
            'secretsmanager:GetSecretValue',
            'secretsmanager:ListSecretVersionIds',
            'secretsmanager:PutSecretValue',
            'secretsmanager:UpdateSecretVersionStage',
          ],
          Effect: 'Allow',
          Resource: { Ref: expect.stringMatching(/SmtpSecret/) },
        },
      ]),
    );
    const text = JSON.stringify(statements);
    expect(text).not.toMatch(/"Resource":"\*"/);
    expect(text).not.toContain('GetRandomPassword');
    expect(text.match(/iam:CreateAccessKey/g)).toHaveLength(1);
  });

  test('an existing user: key actions on that user only, and keys the secret does not name are left alone', () => {
    const s = stack();
    const user = new iam.User(s, 'Existing');
    const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
    new SesSmtpCredentials(s, 'Smtp', { identities: [identity], user });
    const t = Template.fromStack(s);
    t.hasResourceProperties('Custom::SesSmtpCredentials', { OwnsUserKeys: 'false' });
    const doc = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(doc).toContain(
      '"Action":["iam:CreateAccessKey","iam:DeleteAccessKey","iam:GetAccessKeyLastUsed","iam:ListAccessKeys"],"Effect":"Allow","Resource":{"Fn::GetAtt":["Existing',
    );
    expect(doc).not.toContain('user/ses-relay/');
  });

  describe('rotation', () => {
    test('a schedule every rotationPeriod days, by a rotation function only Secrets Manager may invoke, for that secret', () => {
      const { template } = withCredentials({ rotationPeriod: Duration.days(30) });
      const fn = Object.entries(
        template.findResources('AWS::Lambda::Function', {
          Properties: { Handler: 'index.rotationHandler' },
        }),
      );
      expect(fn).toHaveLength(1);
      const [fnId, rotationFn] = fn[0];
      expect(rotationFn.Properties).toMatchObject({ Runtime: 'nodejs24.x', Timeout: 600 });
      const schedule = Object.values(template.findResources('AWS::SecretsManager::RotationSchedule'));
      expect(schedule).toHaveLength(1);
      expect(schedule[0].Properties).toEqual({
        SecretId: { Ref: expect.stringMatching(/^SmtpSecret/) },
        RotationLambdaARN: { 'Fn::GetAtt': [fnId, 'Arn'] },
        RotationRules: { AutomaticallyAfterDays: 30 },
        RotateImmediatelyOnUpdate: false,
      });
      // The first rotation needs the credentials the custom resource writes.
      expect(schedule[0].DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/^Smtp[0-9A-F]{8}$/)]));
      template.hasResourceProperties('AWS::Lambda::Permission', {
        FunctionName: { 'Fn::GetAtt': [fnId, 'Arn'] },
        Principal: 'secretsmanager.amazonaws.com',
        SourceArn: { Ref: Match.stringLikeRegexp('^SmtpSecret') },
      });
      template.resourceCountIs('AWS::Lambda::Permission', 1);
    });

    test('without rotationPeriod, no schedule and no rotation function', () => {
      const { template } = withCredentials();
      template.resourceCountIs('AWS::SecretsManager::RotationSchedule', 0);
      expect(
        Object.keys(
          template.findResources('AWS::Lambda::Function', {
            Properties: { Handler: 'index.rotationHandler' },
          }),
        ),
      ).toEqual([]);
    });

    test('one rotation function per stack, one permission per secret', () => {
      const s = stack();
      const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
      new SesSmtpCredentials(s, 'A', { identities: [identity], rotationPeriod: Duration.days(7) });
      new SesSmtpCredentials(s, 'B', { identities: [identity], rotationPeriod: Duration.days(90) });
      const t = Template.fromStack(s);
      t.resourceCountIs('AWS::SecretsManager::RotationSchedule', 2);
      t.resourceCountIs('AWS::Lambda::Permission', 2);
      t.resourceCountIs('AWS::Lambda::Function', 3); // handler, Provider framework, rotation
    });

    test.each<[string, Duration]>([
      ['12 hours', Duration.hours(12)],
      ['0 days', Duration.days(0)],
      ['366 days', Duration.days(366)],
      ['1 day 12 hours', Duration.hours(36)],
    ])('refuses a rotationPeriod of %s, naming the path, the prop and what is allowed', (shown, rotationPeriod) => {
      expect(() => withCredentials({ rotationPeriod })).toThrow(
        `Test/Smtp: rotationPeriod: got ${shown}; allowed: whole days from 1 to 365 (Duration.days(30))`,
      );
    });

    test('a period known only at deploy time (a token) reaches the schedule unchecked', () => {
      const { template } = withCredentials({ rotationPeriod: Duration.days(Lazy.number({ produce: () => 45 })) });
      template.hasResourceProperties('AWS::SecretsManager::RotationSchedule', {
        RotationRules: { AutomaticallyAfterDays: 45 },
      });
    });

    test('1 and 365 days are allowed', () => {
      expect(() => withCredentials({ rotationPeriod: Duration.days(1) })).not.toThrow();
      expect(() => withCredentials({ rotationPeriod: Duration.days(365) })).not.toThrow();
    });

    test('rotating the keys of an existing user takes manageExistingUserKeys', () => {
      const s = stack();
      const user = new iam.User(s, 'Existing');
      const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
      expect(
        () => new SesSmtpCredentials(s, 'Smtp', { identities: [identity], user, rotationPeriod: Duration.days(30) }),
      ).toThrow(
        "Test/Smtp: rotationPeriod: got 30 days with an existing user (the user prop): each rotation deletes that user's access keys other than the current one; set manageExistingUserKeys: true to allow it, or leave rotationPeriod unset",
      );
      new SesSmtpCredentials(s, 'Allowed', {
        identities: [identity],
        user,
        rotationPeriod: Duration.days(30),
        manageExistingUserKeys: true,
      });
      const t = Template.fromStack(s);
      t.hasResourceProperties('Custom::SesSmtpCredentials', { OwnsUserKeys: 'true' });
      t.resourceCountIs('AWS::SecretsManager::RotationSchedule', 1);
    });

    /** Credentials as NIST 800-53 wants them: the secret under a customer managed key. */
    function nistReady(rotationPeriod?: Duration) {
      const s = stack();
      const identity = ses.EmailIdentity.fromEmailIdentityName(s, 'I', 'example.com');
      const encryptionKey = new kms.Key(s, 'Key', { enableKeyRotation: true });
      new SesSmtpCredentials(s, 'Smtp', { identities: [identity], encryptionKey, rotationPeriod });
      return { s };
    }

    test('cdk-nag AwsSolutions and NIST 800-53 R5: no findings, and no rotation acknowledgment left', () => {
      const { s } = nistReady(Duration.days(30));
      const secret = s.node.findChild('Smtp').node.findChild('Secret');
      const acks = JSON.stringify(secret.node.findAll().flatMap((c) => c.node.metadata));
      expect(acks).not.toContain('SMG4');
      expect(acks).not.toContain('SecretsManagerRotationEnabled');
      const app = s.node.root as App;
      expect(nagFindings(app, [new AwsSolutionsChecks(app), new NIST80053R5Checks(app)])).toEqual([]);
    });

    test('cdk-nag without rotation: clean, the missing rotation acknowledged with its reason', () => {
      const { s } = nistReady();
      const secret = s.node.findChild('Smtp').node.findChild('Secret');
      expect(JSON.stringify(secret.node.findAll().flatMap((c) => c.node.metadata))).toContain(
        'Rotation is off (rotationPeriod unset)',
      );
      const app = s.node.root as App;
      expect(nagFindings(app, [new AwsSolutionsChecks(app), new NIST80053R5Checks(app)])).toEqual([]);
    });
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
    ['port', { smtpPort: 2525 }, /^Test\/Smtp: smtpPort: invalid port 2525: SES SMTP listens on/],
    ['endpoint', { smtpEndpoint: 'not a host' }, /^Test\/Smtp: smtpEndpoint: invalid endpoint "not a host"/],
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
