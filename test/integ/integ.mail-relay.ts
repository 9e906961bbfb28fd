// Integration test on a real AWS account, run by integ-runner (README "Integration tests on a real
// account"): deploys MailRelayStack, waits for its identity to be verified, sends one message from
// inside the VPC through the hub's load balancer to the SES mailbox simulator, waits for SES's
// Delivery event, then integ-runner destroys everything. Offline, integ-runner only synthesizes
// this app and compares it with the committed snapshot (integ.mail-relay.ts.snapshot/).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type AwsApiCall, ExpectedResult, IntegTest, Match } from '@aws-cdk/integ-tests-alpha';
import { App, Duration, RemovalPolicies, Stack } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ses from 'aws-cdk-lib/aws-ses';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { MailRelayStack, type MailRelayStackProps } from '../../lib';

const SIMULATOR = 'success@simulator.amazonses.com';
const SUBJECT = 'ses-relay integration test';
/** SES has no "test-region": the snapshot is synthesized for this region instead. */
const SNAPSHOT_REGION = 'eu-west-1';

/**
 * The sending identity and the region. The account stays a deploy-time value (the one deployed
 * to): no account id in the snapshot.
 * integ-runner synthesizes the snapshot with fixed CDK_INTEG_* values (region test-region, zone
 * Z23ABC4XYZL05B of example.com) and deploys without them: then SES_RELAY_INTEG_DOMAIN with
 * SES_RELAY_INTEG_HOSTED_ZONE_ID (verified by itself through Route 53), or SES_RELAY_INTEG_EMAIL
 * (verified by following the link SES mails to it).
 */
function inputs(env: NodeJS.ProcessEnv): { props: MailRelayStackProps; sender: string } {
  if (env.CDK_INTEG_REGION) {
    const domain = env.CDK_INTEG_HOSTED_ZONE_NAME ?? 'example.com';
    return {
      props: { env: { region: SNAPSHOT_REGION }, domain, hostedZoneId: env.CDK_INTEG_HOSTED_ZONE_ID },
      sender: `integ@${domain}`,
    };
  }
  const region = env.CDK_DEFAULT_REGION;
  if (env.SES_RELAY_INTEG_EMAIL) {
    return { props: { env: { region }, emailAddress: env.SES_RELAY_INTEG_EMAIL }, sender: env.SES_RELAY_INTEG_EMAIL };
  }
  if (env.SES_RELAY_INTEG_DOMAIN && env.SES_RELAY_INTEG_HOSTED_ZONE_ID) {
    return {
      props: {
        env: { region },
        domain: env.SES_RELAY_INTEG_DOMAIN,
        hostedZoneId: env.SES_RELAY_INTEG_HOSTED_ZONE_ID,
      },
      sender: `integ@${env.SES_RELAY_INTEG_DOMAIN}`,
    };
  }
  throw new Error(
    'integ.mail-relay: set SES_RELAY_INTEG_DOMAIN and SES_RELAY_INTEG_HOSTED_ZONE_ID (a Route 53 public zone of that domain), or SES_RELAY_INTEG_EMAIL (an address you can read); see README "Integration tests on a real account"',
  );
}

const app = new App();
const { props, sender } = inputs(process.env);
// One relay is enough to prove the path (and costs one instance, not two).
const stack = new MailRelayStack(app, 'SesRelayInteg', { ...props, relayCount: 1 });
// Nothing outlives the test: the stack's keys and log groups are retained by default.
RemovalPolicies.of(stack).destroy();

// The stack's parts the test drives (one place to adapt if MailRelayStack's members are renamed).
const relay = {
  vpc: stack.vpc,
  host: stack.hub.loadBalancer.loadBalancerDnsName,
  port: stack.hub.listenerPort,
  configurationSet: stack.mail.configurationSet as ses.IConfigurationSet,
  identityName: stack.mail.identityName,
};

// Every event of the stack's configuration set, for this test only: to a topic, then a queue.
const events = new sns.Topic(stack, 'IntegEvents');
const queue = new sqs.Queue(stack, 'IntegEventQueue', {
  // Polled repeatedly: every message shows again at the next poll.
  visibilityTimeout: Duration.seconds(0),
  retentionPeriod: Duration.hours(2),
  enforceSSL: true,
});
events.addSubscription(new subscriptions.SqsSubscription(queue, { rawMessageDelivery: true }));
new ses.ConfigurationSetEventDestination(stack, 'IntegEventDestination', {
  configurationSet: relay.configurationSet,
  destination: ses.EventDestination.snsTopic(events),
  events: [
    ses.EmailSendingEvent.SEND,
    ses.EmailSendingEvent.REJECT,
    ses.EmailSendingEvent.DELIVERY,
    ses.EmailSendingEvent.BOUNCE,
    ses.EmailSendingEvent.DELIVERY_DELAY,
  ],
});

// An application in the VPC: plain SMTP to the load balancer, from a relay network (the VPC CIDR).
const client = new lambda.Function(stack, 'IntegSmtpClient', {
  runtime: lambda.Runtime.NODEJS_24_X,
  handler: 'index.handler',
  code: lambda.Code.fromInline(readFileSync(join(__dirname, 'smtp-send.js'), 'utf8')),
  timeout: Duration.seconds(60),
  vpc: relay.vpc,
  vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
  environment: {
    RELAY_HOST: relay.host,
    RELAY_PORT: String(relay.port),
    MAIL_FROM: sender,
    MAIL_TO: SIMULATOR,
    MAIL_SUBJECT: SUBJECT,
  },
  logGroup: new logs.LogGroup(stack, 'IntegSmtpClientLogs', { retention: logs.RetentionDays.ONE_WEEK }),
});

const integ = new IntegTest(app, 'MailRelay', {
  testCases: [stack],
  // In the relay stack's region: the assertions reference its resources.
  assertionStack: new Stack(app, 'SesRelayIntegAssertions', { env: props.env }),
  // The snapshot is synthesized for a fixed account and zone: it cannot be deployed first.
  stackUpdateWorkflow: false,
});

/** The waiter's own role needs the action too (integ-tests grants it to the first call only). */
function allow(call: AwsApiCall, actions: string[], resources: string[]): void {
  for (const role of [call.provider, call.waiterProvider]) {
    role?.addToRolePolicy({ Effect: 'Allow', Action: actions, Resource: resources });
  }
}

// 1. SES may send from the identity: DKIM through Route 53 takes minutes; an address waits for
// its link to be followed.
const verified = integ.assertions
  .awsApiCall('SESV2', 'getEmailIdentity', { EmailIdentity: relay.identityName })
  .expect(ExpectedResult.objectLike({ VerifiedForSendingStatus: true }))
  .waitForAssertions({ totalTimeout: Duration.minutes(45), interval: Duration.minutes(1) }) as AwsApiCall;
allow(verified, ['ses:GetEmailIdentity'], ['*']);

// 2. The relay accepts the message (Postfix's "250 2.0.0 Ok: queued as ...").
const sent = integ.assertions
  .invokeFunction({ functionName: client.functionName })
  .expect(ExpectedResult.objectLike({ Payload: Match.stringLikeRegexp('250 2\\.0\\.0 Ok: queued') }))
  .waitForAssertions({ totalTimeout: Duration.minutes(10), interval: Duration.seconds(30) }) as AwsApiCall;
allow(sent, ['lambda:InvokeFunction'], [client.functionArn]);

// 3. SES reports the delivery to the simulator (through the relay, with the configuration set).
const delivered = integ.assertions
  .awsApiCall('SQS', 'receiveMessage', { QueueUrl: queue.queueUrl, WaitTimeSeconds: 20, MaxNumberOfMessages: 10 })
  .expect(
    ExpectedResult.objectLike({
      Messages: Match.arrayWith([
        Match.objectLike({
          Body: Match.stringLikeRegexp(
            `(?=[\\s\\S]*"eventType"\\s*:\\s*"Delivery")(?=[\\s\\S]*${SIMULATOR.replace(/\./g, '\\.')})`,
          ),
        }),
      ]),
    }),
  )
  .waitForAssertions({ totalTimeout: Duration.minutes(15), interval: Duration.seconds(30) }) as AwsApiCall;
allow(delivered, ['sqs:ReceiveMessage'], [queue.queueArn]);

verified.next(sent).next(delivered);
app.synth();
