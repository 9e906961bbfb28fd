// The ready stack as the construct tests build it, and the user data of its relays.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { MailRelayStack, type MailRelayStackProps } from '../../lib';

export function app(context?: Record<string, unknown>): App {
  return new App({ outdir: mkdtempSync(join(tmpdir(), 'ses-relay-cdk-')), context });
}

/** The context of the repository's cdk.json: the feature flags `cdk synth` of the app runs with. */
export function appContext(): Record<string, unknown> {
  return JSON.parse(readFileSync(join(__dirname, '..', '..', 'cdk.json'), 'utf8')).context;
}

export function relayStack(props: MailRelayStackProps = {}, context?: Record<string, unknown>) {
  const a = app(context);
  const stack = new MailRelayStack(a, 'SesRelay', { env: { region: 'eu-west-1' }, ...props });
  return { app: a, stack, template: () => Template.fromStack(stack) };
}

/** The user data of the hub's launch template, with tokens shown as {Ref} objects. */
export function userDataParts(template: Template): (string | object)[] {
  const lt = Object.values(template.findResources('AWS::EC2::LaunchTemplate'))[0];
  return lt.Properties.LaunchTemplateData.UserData['Fn::Base64']['Fn::Join'][1];
}
