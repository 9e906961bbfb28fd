// A resource as cdk-nag names it in a finding's id (`AwsSolutions-IAM5[Resource::...]`), so that an
// acknowledgment matches whatever the app's feature flags make of an ARN (a partition literal or
// `${AWS::Partition}`, a concrete account or `${AWS::AccountId}`).
import { Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string]; 'Fn::Join'?: [string, unknown[]] };
  if (v.Ref !== undefined) return `<${v.Ref}>`;
  if (v['Fn::GetAtt'] !== undefined) return `<${v['Fn::GetAtt'].join('.')}>`;
  if (v['Fn::Join'] !== undefined) return v['Fn::Join'][1].map(shown).join(v['Fn::Join'][0]);
  return JSON.stringify(value);
}

/** The resource (an ARN, possibly made of tokens) as cdk-nag shows it. */
export function nagResource(scope: IConstruct, arn: string): string {
  return shown(Stack.of(scope).resolve(arn));
}
