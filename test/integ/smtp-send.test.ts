// The integration test's SMTP client (smtp-send.js, inlined into its Lambda) against a local
// smtp-server on loopback: what the relay receives, and what the client reports back.
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';

// CommonJS on purpose: the same file is the Lambda's inline code.
const { send } = require('./smtp-send.js') as {
  send(o: {
    host: string;
    port: number;
    from: string;
    to: string;
    subject: string;
    timeoutMs?: number;
  }): Promise<string>;
};

async function server(options: SMTPServerOptions): Promise<{ port: number; close(): Promise<void> }> {
  const s = new SMTPServer({ disabledCommands: ['STARTTLS', 'AUTH'], logger: false, ...options });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return {
    port: (s.server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => s.close(() => resolve())),
  };
}

const message = { from: 'integ@example.com', to: 'success@simulator.amazonses.com', subject: 'ses-relay integ' };

test('sends one message with the envelope and headers given, and returns the reply to it', async () => {
  const received: { from: string; to: string[]; raw: string }[] = [];
  const s = await server({
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString(),
        });
        callback(null, 'Ok: queued as 4Xk2p3');
      });
    },
  });
  try {
    const reply = await send({ host: '127.0.0.1', port: s.port, ...message });
    expect(reply).toBe('250 Ok: queued as 4Xk2p3');
    expect(received).toHaveLength(1);
    expect(received[0].from).toBe(message.from);
    expect(received[0].to).toEqual([message.to]);
    const parsed = await simpleParser(received[0].raw);
    expect(parsed.subject).toBe(message.subject);
    expect(parsed.messageId).toMatch(/@ses-relay-integ>$/);
    expect(parsed.text?.trim()).toBe('Sent through a ses-relay hub by its integration test.');
  } finally {
    await s.close();
  }
});

test('a refused recipient fails with the relay reply, as Postfix refuses a client outside relayNetworks', async () => {
  const s = await server({
    onRcptTo(_address, _session, callback) {
      const err = new Error('5.7.1 <success@simulator.amazonses.com>: Relay access denied') as Error & {
        responseCode: number;
      };
      err.responseCode = 554;
      callback(err);
    },
  });
  try {
    await expect(send({ host: '127.0.0.1', port: s.port, ...message })).rejects.toThrow(
      'expected 250, got: 554 5.7.1 <success@simulator.amazonses.com>: Relay access denied',
    );
  } finally {
    await s.close();
  }
});

test('a relay that does not answer fails within the timeout, naming the address', async () => {
  const net = await import('node:net');
  const silent = net.createServer(() => {}); // accepts, never greets
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const { port } = silent.address() as AddressInfo;
  try {
    await expect(send({ host: '127.0.0.1', port, ...message, timeoutMs: 300 })).rejects.toThrow(
      `no reply from 127.0.0.1:${port} in 300 ms`,
    );
  } finally {
    silent.close();
  }
});
