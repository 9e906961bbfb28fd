// The CDK app: reads context (see README "The app"), builds MailRelayStack. Thin.
import { App, Duration } from 'aws-cdk-lib';
import { DmarcPolicy, MailRelayStack } from '../lib';
import { numberFrom, splitList } from '../lib/private/parse';

const app = new App();
const ctx = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key);
  return v === undefined || v === '' ? undefined : String(v);
};
const list = (key: string) => splitList(ctx(key));
const dmarc = ctx('dmarc');
if (dmarc !== undefined && !Object.values<string>(DmarcPolicy).includes(dmarc)) {
  throw new Error(
    `context dmarc: invalid value ${JSON.stringify(dmarc)}: allowed: ${Object.values(DmarcPolicy).join(', ')}`,
  );
}
const port = numberFrom(ctx('smtpPort'));
if (Number.isNaN(port)) {
  throw new Error(`context smtpPort: invalid value ${JSON.stringify(ctx('smtpPort'))}: a port number`);
}
const rate = numberFrom(ctx('maxSendRate'), true);
if (Number.isNaN(rate)) {
  throw new Error(
    `context maxSendRate: invalid value ${JSON.stringify(ctx('maxSendRate'))}: messages per second, e.g. 14`,
  );
}

const rotationDays = numberFrom(ctx('rotationPeriod'));
if (Number.isNaN(rotationDays)) {
  throw new Error(
    `context rotationPeriod: invalid value ${JSON.stringify(ctx('rotationPeriod'))}: whole days between rotations, e.g. 30`,
  );
}

new MailRelayStack(app, ctx('stackName') ?? 'SesRelay', {
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: ctx('region') ?? process.env.CDK_DEFAULT_REGION ?? 'eu-west-1',
  },
  domain: ctx('domain'),
  emailAddress: ctx('emailAddress'),
  hostedZoneId: ctx('hostedZoneId'),
  dmarcPolicy: dmarc as DmarcPolicy | undefined,
  configurationSet: ctx('configurationSet') !== 'false',
  sandboxRecipients: list('sandboxRecipients'),
  fromAddresses: list('fromAddresses'),
  vpcCidr: ctx('vpcCidr'),
  relayNetworks: list('relayNetworks'),
  smtpPort: port,
  maxSendRate: rate,
  rotation: ctx('rotation') !== 'false',
  rotationPeriod: rotationDays === undefined ? undefined : Duration.days(rotationDays),
});
app.synth();
