// The SES stand-in (ses-standin.ts), spoken to line by line as SES is: where the pacing suite and the
// benchmark depend on it, it talks as SES does. Its EHLO offers no PIPELINING (so every command
// waits for its reply), and it counts a message's recipients at its DATA command, by either rate
// model: a transaction abandoned before DATA counts nothing, and one over the quota is refused with
// a 454 after DATA.
import { type Socket, connect as tcpConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { type StandIn, startStandIn } from '../helpers/standin';
import { makeTestTls, type TestTls } from './tls';

const HOST = 'email-smtp.eu-west-1.amazonaws.com';
const USER = 'EXAMPLEUSER';
const PASSWORD = 'example-smtp-password';

/** One SMTP session: each command resolves with its whole reply, one line each. */
class Session {
  private buffer = '';
  private waiting: ((reply: string[]) => void) | undefined;

  private constructor(private socket: Socket | TLSSocket) {
    this.listen();
  }

  static async open(port: number): Promise<[Session, string[]]> {
    const socket = tcpConnect(port, '127.0.0.1');
    const session = new Session(socket);
    return [session, await session.reply()];
  }

  /** STARTTLS, then the same session over TLS (the test CA trusted, SES's name checked). */
  async starttls(tls: TestTls): Promise<void> {
    expect((await this.command('STARTTLS'))[0]).toMatch(/^220 /);
    this.socket.removeAllListeners('data');
    this.socket = tlsConnect({ socket: this.socket, ca: tls.ca, servername: HOST });
    await new Promise((resolve) => this.socket.once('secureConnect', resolve));
    this.listen();
  }

  command(line: string): Promise<string[]> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  close(): void {
    this.socket.destroy();
  }

  private listen(): void {
    this.socket.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('latin1');
      const lines = this.buffer.split('\r\n');
      const last = lines.findIndex((l) => /^\d{3} /.test(l));
      if (last < 0 || !this.waiting) return;
      this.buffer = lines.slice(last + 1).join('\r\n');
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(lines.slice(0, last + 1));
    });
  }

  private reply(): Promise<string[]> {
    return new Promise((resolve) => {
      this.waiting = resolve;
      this.socket.emit('data', Buffer.alloc(0));
    });
  }
}

let tls: TestTls;
let standin: StandIn | undefined;
beforeAll(() => {
  tls = makeTestTls(HOST);
});
afterEach(async () => {
  await standin?.stop();
  standin = undefined;
});

/** A session authenticated over STARTTLS, and its two EHLO replies (before TLS and after). */
async function authenticated(port: number): Promise<[Session, string[][]]> {
  const [session, greeting] = await Session.open(port);
  expect(greeting[0]).toMatch(/^220 /);
  const before = await session.command('EHLO relay.example.com');
  await session.starttls(tls);
  const after = await session.command('EHLO relay.example.com');
  const plain = Buffer.from(`\0${USER}\0${PASSWORD}`).toString('base64');
  expect(await session.command(`AUTH PLAIN ${plain}`)).toEqual([expect.stringMatching(/^235 /)]);
  return [session, [before, after]];
}

test('its EHLO offers no PIPELINING, before TLS or after (as SES: 8BITMIME, SIZE, STARTTLS, AUTH PLAIN LOGIN)', async () => {
  standin = await startStandIn({ tls, host: HOST, user: USER, password: PASSWORD });
  const [session, ehlos] = await authenticated(standin.port);
  session.close();
  for (const ehlo of ehlos) {
    expect(ehlo[0]).toMatch(/^250-/);
    expect(ehlo.join('\n')).not.toMatch(/PIPELINING/i);
  }
  expect(ehlos[0].join('\n')).toMatch(/^250[- ]STARTTLS$/m);
  expect(ehlos[1].join('\n')).toMatch(/^250[- ]AUTH PLAIN LOGIN$/m);
});

test.each(['bucket', 'window'] as const)(
  'at a quota of 2/s (%s): recipients count at DATA, none for a transaction abandoned before it; one over the quota draws a 454 after DATA',
  async (rateModel) => {
    standin = await startStandIn({ tls, host: HOST, user: USER, password: PASSWORD, quota: 2, rateModel });
    const [session] = await authenticated(standin.port);
    const transaction = async (recipients: string[], data: boolean) => {
      expect((await session.command('MAIL FROM:<sender@example.com>'))[0]).toMatch(/^250 /);
      for (const r of recipients) expect((await session.command(`RCPT TO:<${r}>`))[0]).toMatch(/^250 /);
      if (!data) return (await session.command('RSET'))[0];
      expect((await session.command('DATA'))[0]).toMatch(/^354 /);
      return (await session.command('Subject: paced\r\n\r\nhello\r\n.'))[0];
    };
    // Two recipients taken, then RSET: SES never counted them, so two more go at once after it.
    expect(await transaction(['a@example.com', 'b@example.com'], false)).toMatch(/^250 /);
    expect(await transaction(['a@example.com', 'b@example.com'], true)).toMatch(/^250 /);
    // The second's quota is spent: the next message is taken up to DATA and refused after it.
    expect(await transaction(['c@example.com'], true)).toMatch(
      /^454 Throttling failure: Maximum sending rate exceeded/,
    );
    session.close();
    expect(standin.messages().map((m) => m.to)).toEqual([['a@example.com', 'b@example.com']]);
    expect(standin.count('throttled')).toBe(1);
  },
);
