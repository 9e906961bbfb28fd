// Constructor-time validation helpers: skip unresolved tokens, and name the prop, the value, what
// is allowed and the construct path in every message.
import { Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/** Runs `check` on a resolved value; rethrows its message prefixed with the prop and the path. */
export function validateProp<T>(scope: Construct, prop: string, value: T | undefined, check: (v: T) => void): void {
  if (value === undefined || Token.isUnresolved(value)) return;
  try {
    check(value);
  } catch (err) {
    throw new Error(`${scope.node.path}: ${prop}: ${(err as Error).message}`);
  }
}
