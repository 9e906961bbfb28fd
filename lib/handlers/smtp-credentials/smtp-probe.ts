// SMTP AUTH probe for the rotation's testSecret step: connects to the SES SMTP endpoint, starts
// TLS (STARTTLS, or TLS from the first byte on the wrapper ports), verifies the certificate for
// the endpoint's host name, says EHLO, authenticates with AUTH PLAIN and quits. It never sends
// MAIL, and the password appears only inside the base64 AUTH line, never in an error.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { SmtpTlsMode, tlsModeOf } from '../../smtp/endpoints';

export interface SmtpProbeOptions {
  /** The host name the server's certificate must match (the SES SMTP endpoint). */
  readonly host: string;
  /** The SES port: 587, 2587, 25 start TLS with STARTTLS; 465, 2465 from the first byte. */
  readonly port: number;
  readonly username: string;
  readonly password: string;
  /** Connect to this address instead of `host` (tests: a stand-in on loopback); the certificate is still checked against `host`. */
  readonly connectTo?: string;
  /** Connect to this port instead of `port`, keeping its TLS mode (tests: a stand-in's port). */
  readonly connectPort?: number;
  /** CA certificates to trust instead of Node's store (tests only). */
  readonly ca?: string | Buffer;
  /** Per-connection time limit in milliseconds. @default 15000 */
  readonly timeoutMs?: number;
}

/** The server answered; `code` is its reply code (535: credentials not accepted, yet). */
export class SmtpReplyError extends Error {
  constructor(
    readonly step: string,
    readonly code: number,
    reply: string,
  ) {
    super(`${step}: the server answered ${reply}`);
    this.name = 'SmtpReplyError';
  }
  /** 535 while IAM propagates a new key, 4xx for a server that is busy: worth another try. */
  get retryable(): boolean {
    return this.code === 535 || (this.code >= 400 && this.code < 500);
  }
}

interface Reply {
  readonly code: number;
  readonly lines: string[];
}

/** Reads SMTP replies (multi-line `250-...` up to `250 ...`) from whichever socket is attached. */
class Conversation {
  private buffer = '';
  private lines: string[] = [];
  private waiter?: { resolve: (r: Reply) => void; reject: (e: Error) => void };
  private error?: Error;
  private socket!: net.Socket;

  constructor(socket: net.Socket, timeoutMs: number) {
    this.attach(socket, timeoutMs);
  }

  attach(socket: net.Socket, timeoutMs: number): void {
    this.socket = socket;
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    socket.on('data', (chunk: Buffer) => this.receive(chunk.toString('latin1')));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('the server closed the connection')));
  }

  /** Stops reading from the current socket (before it is handed to TLS). */
  detach(): net.Socket {
    this.socket.removeAllListeners('data');
    this.socket.removeAllListeners('error');
    this.socket.removeAllListeners('close');
    this.socket.setTimeout(0);
    return this.socket;
  }

  private receive(text: string): void {
    this.buffer += text;
    let end = this.buffer.indexOf('\n');
    while (end >= 0) {
      const line = this.buffer.slice(0, end).replace(/\r$/, '');
      this.buffer = this.buffer.slice(end + 1);
      this.lines.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const reply = { code: Number(line.slice(0, 3)), lines: this.lines };
        this.lines = [];
        const w = this.waiter;
        this.waiter = undefined;
        w?.resolve(reply);
      }
      end = this.buffer.indexOf('\n');
    }
  }

  private fail(err: Error): void {
    this.error ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(err);
  }

  reply(): Promise<Reply> {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Sends a line (or nothing, for the greeting) and expects one of the codes. */
  async expect(step: string, line: string | undefined, codes: number[]): Promise<Reply> {
    const pending = this.reply();
    if (line !== undefined) this.socket.write(`${line}\r\n`);
    const r = await pending;
    if (!codes.includes(r.code)) throw new SmtpReplyError(step, r.code, r.lines[r.lines.length - 1] ?? String(r.code));
    return r;
  }

  end(): void {
    this.detach().destroy();
  }
}

/** Resolves once `ready` fires on the socket; a silent peer fails after `timeoutMs` (no hang until Lambda's timeout). */
function opened<T extends net.Socket>(socket: T, ready: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    socket.once(ready, () => {
      clearTimeout(timer);
      socket.removeListener('error', fail);
      resolve(socket);
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', fail);
  });
}

const connectTls = (options: tls.ConnectionOptions, timeoutMs: number) =>
  opened(tls.connect(options), 'secureConnect', timeoutMs);

const connectPlain = (host: string, port: number, timeoutMs: number) =>
  opened(net.connect({ host, port }), 'connect', timeoutMs);

/** One SMTP AUTH attempt; resolves when the server accepted the credentials (235). */
export async function smtpAuthenticate(o: SmtpProbeOptions): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 15000;
  const address = o.connectTo ?? o.host;
  const tlsOptions = { servername: o.host, ca: o.ca, minVersion: 'TLSv1.2' as const };
  const wrapper = tlsModeOf(o.port) === SmtpTlsMode.WRAPPER;
  const first = wrapper
    ? await connectTls({ ...tlsOptions, host: address, port: o.connectPort ?? o.port }, timeoutMs)
    : await connectPlain(address, o.connectPort ?? o.port, timeoutMs);
  const smtp = new Conversation(first, timeoutMs);
  try {
    await smtp.expect('greeting', undefined, [220]);
    const ehlo = await smtp.expect('EHLO', 'EHLO ses-relay-rotation', [250]);
    if (!wrapper) {
      if (!ehlo.lines.some((l) => /^250[- ]STARTTLS\b/i.test(l))) {
        throw new SmtpReplyError('EHLO', 250, 'without STARTTLS: refusing to authenticate in clear');
      }
      await smtp.expect('STARTTLS', 'STARTTLS', [220]);
      const secure = await connectTls({ ...tlsOptions, socket: smtp.detach() }, timeoutMs);
      smtp.attach(secure, timeoutMs);
      await smtp.expect('EHLO', 'EHLO ses-relay-rotation', [250]);
    }
    const plain = Buffer.from(`\0${o.username}\0${o.password}`, 'utf8').toString('base64');
    await smtp.expect('AUTH PLAIN', `AUTH PLAIN ${plain}`, [235]);
    await smtp.expect('QUIT', 'QUIT', [221]).catch(() => undefined);
  } finally {
    smtp.end();
  }
}

/** Errors worth another try: a reply that may change (535 while IAM propagates, 4xx), or the network. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof SmtpReplyError) return err.retryable;
  const code = (err as { code?: string }).code ?? '';
  return (
    ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'].includes(code) ||
    /no answer within|closed the connection/.test((err as Error).message ?? '')
  );
}

export interface RetryOptions {
  /** Give up once this time (epoch milliseconds) would be passed. */
  readonly deadline: number;
  /** Wait before the first retry, doubled each time up to `maxDelayMs`. @default 2000 */
  readonly firstDelayMs?: number;
  /** @default 30000 */
  readonly maxDelayMs?: number;
  /** Told about each failed attempt (for a log line: never holds the password). */
  readonly onRetry?: (attempt: number, err: Error, delayMs: number) => void;
}

/**
 * Authenticates, retrying what may succeed later (a new IAM key takes seconds to minutes to reach
 * SES) until the deadline; a certificate that does not verify, or a permanent reply, fails at once.
 * Returns the number of attempts.
 */
export async function smtpAuthenticateWithRetry(o: SmtpProbeOptions, r: RetryOptions): Promise<number> {
  let delay = r.firstDelayMs ?? 2000;
  for (let attempt = 1; ; attempt++) {
    try {
      await smtpAuthenticate({
        ...o,
        timeoutMs: Math.min(o.timeoutMs ?? 15000, Math.max(1000, r.deadline - Date.now())),
      });
      return attempt;
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (!isRetryable(e) || Date.now() + delay >= r.deadline) {
        throw new Error(
          `SMTP AUTH as ${o.username} at ${o.host}:${o.port} failed after ${attempt} attempt(s): ${e.message}`,
        );
      }
      r.onRetry?.(attempt, e, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, r.maxDelayMs ?? 30000);
    }
  }
}
