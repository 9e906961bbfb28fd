// The CDK app: reads context (see README "The app"), builds MailRelayStack. Thin.
import { App } from 'aws-cdk-lib';
import { DmarcPolicy, MailRelayStack } from '../lib';

const app = new App();
const ctx = (key: string): string | undefined => {
  const v = app.node.tryGetContext(key);
  return v === undefined || v === '' ? undefined : String(v);
};
const list = (key: string) =>
  ctx(key)
    ?.split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
const dmarc = ctx('dmarc');
if (dmarc !== undefined && !Object.values<string>(DmarcPolicy).includes(dmarc)) {
  throw new Error(
    `context dmarc: invalid value ${JSON.stringify(dmarc)}: allowed: ${Object.values(DmarcPolicy).join(', ')}`,
  );
}
const port = ctx('smtpPort');
if (port !== undefined && !/^[0-9]+$/.test(port))
  throw new Error(`context smtpPort: invalid value ${JSON.stringify(port)}: a port number`);
const rate = ctx('maxSendRate');
if (rate !== undefined && !/^[0-9]+(\.[0-9]+)?$/.test(rate)) {
  throw new Error(`context maxSendRate: invalid value ${JSON.stringify(rate)}: messages per second, e.g. 14`);
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
  smtpPort: port === undefined ? undefined : Number(port),
  maxSendRate: rate === undefined ? undefined : Number(rate),
});
app.synth();
