import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { NestFactory } from '@nestjs/core';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config';
import { createLogger } from '../src/core/logger';
import { configuredChannels, SIGNATURE_HEADER, webhookSignature } from '../src/notifications/channels';
import { viewerLink, type Notification } from '../src/notifications/notification';
import { NotificationModule } from '../src/notifications/notification.module';
import { NotificationService } from '../src/notifications/notification.service';

const CLI = path.resolve(__dirname, '../dist/cli/main.js');
const NTFY_TOKEN = 'tk_ntfysecret0123456789';
const WEBHOOK_TOKEN = 'bearer-secret-abcdef';
const WEBHOOK_SECRET = 'hmac-secret-xyz987';
const SMTP_PASSWORD = 'smtp-pass-qwerty';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An HTTP stand-in: records each request; `answer` decides the reply (or never replies). */
function standIn() {
  const received: Received[] = [];
  let answer: (r: Received, res: http.ServerResponse) => void = (_r, res) => res.end('ok');
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      received.push(r);
      answer(r, res);
    });
  });
  return {
    received,
    server,
    set answer(f: typeof answer) {
      answer = f;
    },
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  };
}

interface Mail {
  from: string;
  to: string[];
  raw: string;
  user?: string;
}

const ntfy = standIn();
const webhook = standIn();
const mails: Mail[] = [];
const smtp = new SMTPServer({
  secure: false,
  disabledCommands: ['STARTTLS'],
  allowInsecureAuth: true,
  authOptional: true,
  logger: false,
  onAuth(auth, _session, cb) {
    if (auth.username === 'podbrain' && auth.password === SMTP_PASSWORD) cb(null, { user: auth.username });
    else cb(new Error('bad credentials'));
  },
  onData(stream, session, cb) {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      mails.push({
        from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
        to: session.envelope.rcptTo.map((r) => r.address),
        raw: Buffer.concat(chunks).toString('utf8'),
        user: session.user as string | undefined,
      });
      cb();
    });
  },
});
let smtpPort = 0;
/** A port with nothing listening. */
let closedPort = 0;

beforeAll(async () => {
  await Promise.all([ntfy.server, webhook.server].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
  smtpPort = (smtp.server.address() as AddressInfo).port;
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  closedPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
});

afterAll(async () => {
  ntfy.server.closeAllConnections();
  webhook.server.closeAllConnections();
  await Promise.all([new Promise((r) => ntfy.server.close(r)), new Promise((r) => webhook.server.close(r)), new Promise((r) => smtp.close(() => r(undefined)))]);
});

beforeEach(() => {
  ntfy.received.length = 0;
  webhook.received.length = 0;
  mails.length = 0;
  ntfy.answer = (_r, res) => res.end('{"id":"x"}');
  webhook.answer = (_r, res) => res.writeHead(204).end();
});

function env(over: Record<string, string> = {}): Record<string, string> {
  return {
    PUBLIC_URL: 'https://podbrain.example.net/',
    NOTIFY_TIMEOUT_MS: '600',
    NOTIFY_NTFY_URL: ntfy.url(),
    NOTIFY_NTFY_TOPIC: 'podbrain-alerts',
    NOTIFY_NTFY_TOKEN: NTFY_TOKEN,
    NOTIFY_WEBHOOK_URL: `${webhook.url()}/hooks/podbrain`,
    NOTIFY_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
    NOTIFY_WEBHOOK_SECRET: WEBHOOK_SECRET,
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(smtpPort),
    SMTP_SECURITY: 'none',
    SMTP_USER: 'podbrain',
    SMTP_PASSWORD,
    SMTP_FROM: 'podbrain@home.example',
    NOTIFY_EMAIL_TO: 'owner@home.example, second@home.example',
    ...over,
  };
}

function service(over: Record<string, string> = {}, now?: () => number) {
  const config = loadConfig({ env: env(over) });
  const lines: string[] = [];
  const log = createLogger({ service: 'test', level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const base = NotificationService.fromConfig(config, log);
  const svc = now
    ? new NotificationService({ channels: configuredChannels(config), log, timeoutMs: config.notify.timeoutMs, repeatWindowMs: config.notify.repeatWindowS * 1000, secrets: [], now })
    : base;
  return { svc, lines, config };
}

function approval(key = 'inc-42'): Notification {
  return {
    kind: 'needs_approval',
    key,
    severity: 'critical',
    title: 'Approve restart of worker-gpu?',
    body: 'worker-gpu has been unhealthy for 5 checks. The runbook proposes restart-role worker-gpu.',
    link: viewerLink('https://podbrain.example.net/', `/incidents/${key}`),
    incidentId: key,
  };
}

describe('notifications', () => {
  it('builds absolute viewer links from PUBLIC_URL, none without it', () => {
    expect(viewerLink('https://podbrain.example.net', '/incidents/7')).toBe('https://podbrain.example.net/incidents/7');
    expect(viewerLink('http://192.168.1.5:8080/podbrain/', 'incidents/7')).toBe('http://192.168.1.5:8080/podbrain/incidents/7');
    expect(viewerLink('', '/incidents/7')).toBeUndefined();
  });

  it('delivers one notification to ntfy, the webhook and e-mail, each as its server expects (LAN addresses allowed)', async () => {
    const { svc } = service();
    expect(svc.channelNames).toEqual(['ntfy', 'webhook', 'email']);
    const result = await svc.notify(approval());
    await svc.close();
    expect(result.sent).toBe(true);
    expect(result.channels.map((c) => [c.channel, c.ok, c.error])).toEqual([
      ['ntfy', true, undefined],
      ['webhook', true, undefined],
      ['email', true, undefined],
    ]);

    expect(ntfy.received).toHaveLength(1);
    const n = ntfy.received[0];
    expect(n.path).toBe('/podbrain-alerts');
    expect(n.headers.title).toBe('Approve restart of worker-gpu?');
    expect(n.headers.priority).toBe('5');
    expect(n.headers.tags).toBe('rotating_light,needs_approval');
    expect(n.headers.click).toBe('https://podbrain.example.net/incidents/inc-42');
    expect(n.headers.authorization).toBe(`Bearer ${NTFY_TOKEN}`);
    expect(n.body).toBe(approval().body);

    expect(webhook.received).toHaveLength(1);
    const w = webhook.received[0];
    expect(w.path).toBe('/hooks/podbrain');
    expect(w.headers['content-type']).toBe('application/json');
    expect(w.headers.authorization).toBe(`Bearer ${WEBHOOK_TOKEN}`);
    // verified as a receiver would: HMAC-SHA256 of the exact body bytes
    expect(w.headers[SIGNATURE_HEADER]).toBe(`sha256=${createHmac('sha256', WEBHOOK_SECRET).update(Buffer.from(w.body, 'utf8')).digest('hex')}`);
    expect(w.headers[SIGNATURE_HEADER]).not.toBe(webhookSignature('another secret', w.body));
    const payload = JSON.parse(w.body) as Record<string, unknown>;
    expect(payload).toMatchObject({ kind: 'needs_approval', severity: 'critical', key: 'inc-42', incident_id: 'inc-42', link: 'https://podbrain.example.net/incidents/inc-42' });
    expect(payload.title).toBe('Approve restart of worker-gpu?');

    expect(mails).toHaveLength(1);
    const m = mails[0];
    expect(m.user).toBe('podbrain');
    expect(m.from).toBe('podbrain@home.example');
    expect(m.to).toEqual(['owner@home.example', 'second@home.example']);
    expect(m.raw).toMatch(/^From: podbrain@home\.example\r$/m);
    expect(m.raw).toMatch(/^To: owner@home\.example, second@home\.example\r$/m);
    expect(m.raw).toMatch(/^Subject: \[podbrain\] Approve restart of worker-gpu\?\r$/m);
    expect(m.raw).toMatch(/^Content-Type: text\/plain; charset=utf-8\r$/m);
    const text = m.raw.split('\r\n\r\n').slice(1).join('\r\n\r\n').replace(/=\r\n/g, ''); // quoted-printable soft breaks
    expect(text).toContain(approval().body);
    expect(text).toContain('https://podbrain.example.net/incidents/inc-42');
  });

  it('a channel that is down or slow fails alone: the others are delivered and the call returns within the timeout', async () => {
    webhook.answer = () => undefined; // never answers
    const { svc } = service({ NOTIFY_NTFY_URL: `http://127.0.0.1:${closedPort}` });
    const started = Date.now();
    const result = await svc.notify(approval());
    const elapsed = Date.now() - started;
    await svc.close();
    expect(elapsed).toBeLessThan(600 + 400);
    const by = Object.fromEntries(result.channels.map((c) => [c.channel, c]));
    expect(by.ntfy.ok).toBe(false);
    expect(by.ntfy.error).toMatch(/ECONNREFUSED/);
    expect(by.webhook.ok).toBe(false);
    expect(by.webhook.error).toMatch(/600 ms/);
    expect(by.email.ok).toBe(true);
    expect(mails).toHaveLength(1);
    expect(webhook.received).toHaveLength(1);
  });

  it('a channel that ignores its abort signal is still cut off at the timeout', async () => {
    const lines: string[] = [];
    const log = createLogger({ service: 'test', level: 'debug', destination: { write: (l: string) => void lines.push(l) } });
    const svc = new NotificationService({
      channels: [
        { name: 'email', send: () => new Promise<void>(() => undefined) },
        { name: 'webhook', send: async () => undefined },
      ],
      log,
      timeoutMs: 150,
      repeatWindowMs: 0,
      secrets: [],
    });
    const started = Date.now();
    const result = await svc.notify(approval());
    expect(Date.now() - started).toBeLessThan(400);
    expect(result.channels).toEqual([
      expect.objectContaining({ channel: 'email', ok: false, error: 'no answer within 150 ms' }),
      expect.objectContaining({ channel: 'webhook', ok: true }),
    ]);
  });

  it('an HTTP error status, a redirect and an SMTP server without STARTTLS (when it is required) are that channel’s errors', async () => {
    ntfy.answer = (_r, res) => res.writeHead(403).end('forbidden topic');
    webhook.answer = (_r, res) => res.writeHead(302, { location: 'http://169.254.169.254/' }).end();
    const { svc } = service({ SMTP_SECURITY: 'starttls' });
    const result = await svc.notify(approval());
    await svc.close();
    const by = Object.fromEntries(result.channels.map((c) => [c.channel, c]));
    expect(by.ntfy.error).toBe('the ntfy server answered HTTP 403: forbidden topic');
    expect(by.webhook.error).toMatch(/HTTP 302/);
    expect(webhook.received).toHaveLength(1);
    expect(by.email.ok).toBe(false);
    expect(by.email.error).toMatch(/STARTTLS/i);
    expect(mails).toHaveLength(0);
  });

  it('link-local destinations (cloud metadata) stay refused unless ALLOW_LINK_LOCAL_NETWORK', async () => {
    const { svc } = service({ NOTIFY_WEBHOOK_URL: 'http://169.254.169.254/latest', SMTP_HOST: '', NOTIFY_NTFY_URL: '' });
    const result = await svc.notify(approval());
    expect(result.channels).toEqual([expect.objectContaining({ channel: 'webhook', ok: false, error: expect.stringContaining('ALLOW_LINK_LOCAL_NETWORK') })]);
  });

  it('drops an identical notification (same kind and key) within the repeat window, sends it again after', async () => {
    let now = 1_000_000;
    const { svc } = service({ SMTP_HOST: '', NOTIFY_WEBHOOK_URL: '', NOTIFY_REPEAT_WINDOW_S: '60' }, () => now);
    expect((await svc.notify(approval('inc-1'))).sent).toBe(true);
    now += 30_000;
    for (let i = 0; i < 5; i++) expect(await svc.notify(approval('inc-1'))).toEqual({ sent: false, channels: [] });
    expect((await svc.notify(approval('inc-2'))).sent).toBe(true);
    expect((await svc.notify({ ...approval('inc-1'), kind: 'escalated' })).sent).toBe(true);
    expect(ntfy.received).toHaveLength(3);
    now += 31_000;
    expect((await svc.notify(approval('inc-1'))).sent).toBe(true);
    expect(ntfy.received).toHaveLength(4);
  });

  it('a notification nobody received does not hold back the next identical one', async () => {
    ntfy.answer = (_r, res) => res.writeHead(503).end();
    const { svc } = service({ SMTP_HOST: '', NOTIFY_WEBHOOK_URL: '' });
    expect((await svc.notify(approval())).channels[0].ok).toBe(false);
    ntfy.answer = (_r, res) => res.end();
    expect((await svc.notify(approval())).channels[0].ok).toBe(true);
  });

  it('never logs or returns a token, a password or the webhook URL, even when a server echoes them', async () => {
    ntfy.answer = (r, res) => res.writeHead(401).end(`bad token: ${String(r.headers.authorization)}`);
    webhook.answer = (r, res) => res.writeHead(500).end(`${r.headers.authorization} ${r.path}`);
    const secretPath = '/hooks/T0KEN-IN-PATH-55';
    const { svc, lines } = service({ NOTIFY_WEBHOOK_URL: `${webhook.url()}${secretPath}`, SMTP_PASSWORD: 'wrong-password-777' });
    const result = await svc.notify(approval());
    await svc.close();
    expect(result.channels.every((c) => !c.ok)).toBe(true);
    const text = lines.join('\n') + JSON.stringify(result);
    expect(lines.filter((l) => l.includes('notification not delivered'))).toHaveLength(3);
    for (const secret of [NTFY_TOKEN, WEBHOOK_TOKEN, WEBHOOK_SECRET, 'wrong-password-777', 'T0KEN-IN-PATH-55']) expect(text).not.toContain(secret);
    expect(text).toContain('bad token: Bearer ***');
  });

  it('is provided to a Nest module tree by NotificationModule, its channels from config', async () => {
    const config = loadConfig({ env: env({ SMTP_HOST: '', NOTIFY_NTFY_URL: '' }) });
    const app = await NestFactory.createApplicationContext(NotificationModule.forRoot(config, createLogger({ service: 'test', level: 'silent' })), { logger: false });
    const svc = app.get(NotificationService);
    expect(svc.channelNames).toEqual(['webhook']);
    expect((await svc.notify(approval())).channels).toEqual([expect.objectContaining({ channel: 'webhook', ok: true })]);
    expect(webhook.received).toHaveLength(1);
    await app.close();
  });

  it('says which half-configured channel is incomplete', () => {
    expect(() => service({ NOTIFY_NTFY_TOPIC: '' })).toThrow(/NOTIFY_NTFY_TOPIC is empty/);
    expect(() => service({ NOTIFY_EMAIL_TO: '' })).toThrow(/SMTP_FROM or NOTIFY_EMAIL_TO is empty/);
  });
});

function cli(extraEnv: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'notify', 'test'], { env: { PATH: process.env.PATH, ...extraEnv }, timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('podbrain notify test', () => {
  it('sends a test to every configured channel and prints ok for each', async () => {
    const r = await cli(env());
    expect(r.stdout).toMatch(/✓ ntfy +ok/);
    expect(r.stdout).toMatch(/✓ webhook +ok/);
    expect(r.stdout).toMatch(/✓ email +ok/);
    expect(r.code).toBe(0);
    expect(ntfy.received).toHaveLength(1);
    expect(ntfy.received[0].headers.click).toBe('https://podbrain.example.net/');
    expect(JSON.parse(webhook.received[0].body)).toMatchObject({ kind: 'digest', title: 'podbrain test notification' });
    expect(mails[0].raw).toContain('Subject: [podbrain] podbrain test notification');
  });

  it('prints the failing channel’s error and exits 1; none configured exits 1 too', async () => {
    ntfy.answer = (_r, res) => res.writeHead(401).end('unauthorized');
    const r = await cli(env());
    expect(r.stdout).toMatch(/✗ ntfy +the ntfy server answered HTTP 401: unauthorized/);
    expect(r.stdout).toMatch(/✓ webhook +ok/);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).not.toContain(NTFY_TOKEN);
    const none = await cli({});
    expect(none.stdout).toContain('no notification channel configured');
    expect(none.code).toBe(1);
  });
});
