// SES SMTP password derivation (the SigV4-based "version 4" algorithm AWS documents in
// "Obtaining Amazon SES SMTP credentials"). Pure: no I/O, no AWS calls.
import { createHmac } from 'node:crypto';
import { checkRegion } from './endpoints';

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
 * The SES SMTP password of an IAM access key.
 *
 * @example
 * const password = SmtpPassword.derive(secretAccessKey, 'eu-west-1');
 */
export class SmtpPassword {
  /**
   * Derives the SES SMTP password for an IAM secret access key in an SES region. Throws (without
   * echoing the key) when the region or the key is malformed.
   */
  static derive(secretAccessKey: string, smtpRegion: string): string {
    checkRegion(smtpRegion);
    if (secretAccessKey.length === 0 || /\s/.test(secretAccessKey)) {
      throw new Error('the secret access key must be a non-empty string without white space');
    }
    let signature = hmac(Buffer.from(`AWS4${secretAccessKey}`, 'utf8'), DATE);
    for (const part of [smtpRegion, SERVICE, TERMINAL, MESSAGE]) {
      signature = hmac(signature, part);
    }
    return Buffer.concat([Buffer.from([VERSION]), signature]).toString('base64');
  }

  private constructor() {}
}
