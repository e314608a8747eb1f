import { createHmac } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Config } from '../config/config';
import { PodbrainError } from '../core/errors';
import { HttpClient, httpClientOptionsFrom } from '../net/http-client';
import type { Notification, Severity } from './notification';

/** One way of reaching the owner. `send` rejects on failure; the service bounds and catches it. */
export interface Channel {
  readonly name: 'ntfy' | 'webhook' | 'email';
  send(n: Notification, signal: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

const ANSWER_BYTES = 4096;

/**
 * The notification destinations are the owner's own (like OPENAI_BASE_URL), so private (LAN)
 * addresses are allowed without ALLOW_PRIVATE_NETWORK — which stays about feed URLs, chosen by
 * strangers. Link-local (cloud metadata) still follows ALLOW_LINK_LOCAL_NETWORK; no redirects.
 */
export function notifyHttpClient(config: Config): HttpClient {
  return new HttpClient(httpClientOptionsFrom(config, { allowPrivateNetwork: true, timeoutMs: config.notify.timeoutMs }));
}

async function postOk(http: HttpClient, url: string, what: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<void> {
  const res = await http.post(url, { headers, body, maxBytes: ANSWER_BYTES, signal, what });
  if (res.status < 200 || res.status >= 300) {
    const answer = res.body.toString('utf8').trim().slice(0, 200);
    throw new PodbrainError('notify_http_status', `${what} answered HTTP ${res.status}${answer ? `: ${answer}` : ''}`, { status: res.status });
  }
}

const NTFY_PRIORITY: Record<Severity, string> = { info: '3', warning: '4', critical: '5' };

/** Header values are latin-1 on the wire; ntfy reads RFC 2047 encoded words for the rest. */
function headerText(s: string): string {
  const oneLine = s.replace(/[\r\n]+/g, ' ');
  return /^[\x20-\x7e]*$/.test(oneLine) ? oneLine : `=?UTF-8?B?${Buffer.from(oneLine, 'utf8').toString('base64')}?=`;
}

export function ntfyChannel(config: Config['notify']['ntfy'], http: HttpClient): Channel {
  const url = `${config.url.replace(/\/+$/, '')}/${encodeURIComponent(config.topic)}`;
  return {
    name: 'ntfy',
    send: (n, signal) => {
      const headers: Record<string, string> = {
        'content-type': 'text/plain; charset=utf-8',
        title: headerText(n.title),
        priority: NTFY_PRIORITY[n.severity],
        tags: [n.severity === 'info' ? 'information_source' : n.severity === 'warning' ? 'warning' : 'rotating_light', n.kind].join(','),
      };
      if (n.link) headers.click = n.link;
      if (config.token) headers.authorization = `Bearer ${config.token}`;
      return postOk(http, url, 'the ntfy server', headers, n.body, signal);
    },
  };
}

export const SIGNATURE_HEADER = 'x-podbrain-signature';

/** `sha256=<hex HMAC-SHA256 of the exact body bytes>`, keyed by NOTIFY_WEBHOOK_SECRET. */
export function webhookSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export function webhookChannel(config: Config['notify']['webhook'], http: HttpClient): Channel {
  return {
    name: 'webhook',
    send: (n, signal) => {
      const body = JSON.stringify({
        kind: n.kind,
        title: n.title,
        body: n.body,
        severity: n.severity,
        key: n.key,
        link: n.link ?? null,
        incident_id: n.incidentId ?? null,
        sent_at: new Date().toISOString(),
      });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (config.token) headers.authorization = `Bearer ${config.token}`;
      if (config.secret) headers[SIGNATURE_HEADER] = webhookSignature(config.secret, body);
      return postOk(http, config.url, 'the webhook', headers, body, signal);
    },
  };
}

export function emailChannel(config: Config['notify']['email'], timeoutMs: number): Channel {
  const transport = nodemailer.createTransport({
    host: config.host,
    port: config.port,
    secure: config.security === 'tls',
    requireTLS: config.security === 'starttls',
    ignoreTLS: config.security === 'none',
    auth: config.user ? { user: config.user, pass: config.password } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    logger: false,
  });
  const to = config.to
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    name: 'email',
    send: async (n, signal) => {
      const text = n.link ? `${n.body}\n\n${n.link}\n` : `${n.body}\n`;
      const sending = transport.sendMail({ from: config.from, to, subject: `[podbrain] ${n.title}`, text });
      // nodemailer takes no AbortSignal; the service's timeout settles the call, the socket timeouts end the connection.
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal.reason as Error);
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        sending.then(
          () => resolve(),
          (e: unknown) => reject(e as Error),
        );
        sending.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
      });
    },
    close: async () => transport.close(),
  };
}

/** Every channel whose address is set; a half-configured channel is a configuration error, said up front. */
export function configuredChannels(config: Config, http: HttpClient = notifyHttpClient(config)): Channel[] {
  const c = config.notify;
  const problems: string[] = [];
  const out: Channel[] = [];
  if (c.ntfy.url) {
    if (!c.ntfy.topic) problems.push('NOTIFY_NTFY_URL is set but NOTIFY_NTFY_TOPIC is empty');
    else out.push(ntfyChannel(c.ntfy, http));
  }
  if (c.webhook.url) out.push(webhookChannel(c.webhook, http));
  if (c.email.host) {
    if (!c.email.from || !c.email.to) problems.push('SMTP_HOST is set but SMTP_FROM or NOTIFY_EMAIL_TO is empty');
    else out.push(emailChannel(c.email, c.timeoutMs));
  }
  if (problems.length) throw new PodbrainError('notify_config', `notifications: ${problems.join('; ')}`, { retryable: false });
  return out;
}
