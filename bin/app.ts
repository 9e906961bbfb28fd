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
const dmarc = ctx('dmarcPolicy');
if (dmarc !== undefined && !Object.values<string>(DmarcPolicy).includes(dmarc)) {
  throw new Error(
    `context dmarcPolicy: invalid value ${JSON.stringify(dmarc)}: allowed: ${Object.values(DmarcPolicy).join(', ')}`,
  );
}
/** A number context key as a number (its range is checked by the construct that takes it). */
const num = (key: string, decimal: boolean, what: string): number | undefined => {
  const value = numberFrom(ctx(key), decimal);
  if (Number.isNaN(value)) throw new Error(`context ${key}: invalid value ${JSON.stringify(ctx(key))}: ${what}`);
  return value;
};
const rotationDays = num('rotationPeriod', false, 'whole days between rotations, e.g. 30');
/** A switch context key: true or false (anything else is refused, not taken for true). */
const flag = (key: string, byDefault: boolean): boolean => {
  const v = ctx(key);
  if (v === undefined) return byDefault;
  if (v !== 'true' && v !== 'false')
    throw new Error(`context ${key}: invalid value ${JSON.stringify(v)}: true or false`);
  return v === 'true';
};

new MailRelayStack(app, ctx('stackName') ?? 'SesRelay', {
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: ctx('region') ?? process.env.CDK_DEFAULT_REGION ?? 'eu-west-1',
  },
  domain: ctx('domain'),
  emailAddress: ctx('emailAddress'),
  hostedZoneId: ctx('hostedZoneId'),
  dmarcPolicy: dmarc as DmarcPolicy | undefined,
  createConfigurationSet: flag('createConfigurationSet', true),
  sandboxRecipients: list('sandboxRecipients'),
  fromAddresses: list('fromAddresses'),
  vpcCidr: ctx('vpcCidr'),
  relayNetworks: list('relayNetworks'),
  smtpPort: num('smtpPort', false, 'a port number, e.g. 587'),
  maxSendRate: num('maxSendRate', true, 'recipients per second, e.g. 14'),
  relayCount: num('relayCount', false, 'how many relays, e.g. 2'),
  rotation: flag('rotation', true),
  rotationPeriod: rotationDays === undefined ? undefined : Duration.days(rotationDays),
});
app.synth();
