// SES SMTP password derivation (the SigV4-based "version 4" algorithm AWS documents in
// "Obtaining Amazon SES SMTP credentials"). Pure: no I/O, no AWS calls.
import { createHmac } from 'node:crypto';
import { assertRegion } from './endpoints';

// Fixed inputs of the algorithm; they are part of the published specification, not secrets.
const DATE = '11111111';
const SERVICE = 'ses';
const TERMINAL = 'aws4_request';
const MESSAGE = 'SendRawEmail';
const VERSION = 0x04;

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/**
 * Derives the SES SMTP password for an IAM secret access key in a region.
 * Throws (without echoing the key) when the region or the key is malformed.
 */
export function deriveSmtpPassword(secretAccessKey: string, region: string): string {
  assertRegion(region);
  if (secretAccessKey.length === 0 || /\s/.test(secretAccessKey)) {
    throw new Error('the secret access key must be a non-empty string without white space');
  }
  let signature = hmac(Buffer.from(`AWS4${secretAccessKey}`, 'utf8'), DATE);
  for (const part of [region, SERVICE, TERMINAL, MESSAGE]) {
    signature = hmac(signature, part);
  }
  return Buffer.concat([Buffer.from([VERSION]), signature]).toString('base64');
}
