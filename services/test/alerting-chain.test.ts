import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAlertmanager, startPrometheus, testRules, type RunningService } from './support/observability';
import { waitFor } from './support/stack';

/** Alertmanager's webhook body (v4), the parts the agent reads. */
interface WebhookBody {
  version: string;
  status: 'firing' | 'resolved';
  groupLabels: Record<string, string>;
  alerts: { status: 'firing' | 'resolved'; fingerprint: string; labels: Record<string, string>; annotations: Record<string, string>; startsAt: string; endsAt: string }[];
}

// The alerting path of the appliance with the real binaries: a role's /metrics → Prometheus
// (the real rules, `for:` shortened) → Alertmanager (the compose entrypoint and template) → the
// agent's webhook, with its bearer token; and `resolved` once the condition clears.
describe('alerting chain: metric → Prometheus rule → Alertmanager → webhook', () => {
  let paused = 1;
  const target = http.createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(
      [
        '# TYPE podbrain_queue_paused gauge',
        `podbrain_queue_paused{queue="transcribe",role="scheduler"} ${paused}`,
        'podbrain_queue_paused{queue="enrich",role="scheduler"} 1',
        '# TYPE podbrain_queue_depth gauge',
        'podbrain_queue_depth{queue="transcribe",state="waiting",role="scheduler"} 5',
        'podbrain_queue_depth{queue="enrich",state="waiting",role="scheduler"} 0',
        '',
      ].join('\n'),
    );
  });
  const received: { auth: string | undefined; body: WebhookBody; at: number }[] = [];
  const receiver = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      received.push({ auth: req.headers.authorization, body: JSON.parse(data) as WebhookBody, at: Date.now() });
      res.writeHead(200).end();
    });
  });
  let prometheus: RunningService | undefined;
  let alertmanager: RunningService | undefined;
  const listen = async (s: http.Server) => {
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
  };

  beforeAll(async () => {
    const targetUrl = await listen(target);
    const hookUrl = await listen(receiver);
    alertmanager = await startAlertmanager({ webhookUrl: `${hookUrl}/api/admin/alerts`, bearer: 'hook-secret', groupWaitS: 1, groupIntervalS: 1, resolveTimeout: '1m' });
    prometheus = await startPrometheus({
      rulesFiles: testRules('2s'),
      scrapeTargets: [{ role: 'scheduler', url: `${targetUrl}/metrics` }],
      scrapeIntervalS: 1,
      evaluationIntervalS: 1,
      alertmanagerUrl: alertmanager.url,
    });
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await new Promise((r) => target.close(r));
    await new Promise((r) => receiver.close(r));
  });

  it('a paused queue with a backlog fires PodbrainQueuePausedWithBacklog to the webhook (v4 JSON, bearer), and resolves when resumed', async () => {
    const t0 = Date.now();
    const firing = await waitFor(
      'the firing webhook',
      async () => received.find((r) => r.body.status === 'firing' && r.body.alerts.some((a) => a.labels.alertname === 'PodbrainQueuePausedWithBacklog')),
      30_000,
    );
    expect(firing.auth).toBe('Bearer hook-secret');
    expect(firing.body.version).toBe('4');
    expect(firing.body.groupLabels).toEqual({ alertname: 'PodbrainQueuePausedWithBacklog', queue: 'transcribe' });
    expect(firing.body.alerts).toHaveLength(1); // enrich is paused but nothing waits on it
    const [alert] = firing.body.alerts;
    expect(alert).toMatchObject({
      status: 'firing',
      labels: { alertname: 'PodbrainQueuePausedWithBacklog', queue: 'transcribe', severity: 'warning', tier: 'P2' },
      annotations: { runbook: 'queue-paused', summary: 'queue transcribe is paused with 5 jobs waiting' },
    });
    expect(alert.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    // nothing else fired on these series
    expect(received.flatMap((r) => r.body.alerts.map((a) => a.labels.alertname))).toEqual(['PodbrainQueuePausedWithBacklog']);
    const firedAfterS = (firing.at - t0) / 1000;

    paused = 0; // resumed
    const cleared = Date.now();
    const resolved = await waitFor('the resolved webhook', async () => received.find((r) => r.body.status === 'resolved'), 30_000);
    expect(resolved.auth).toBe('Bearer hook-secret');
    expect(resolved.body.alerts).toHaveLength(1);
    expect(resolved.body.alerts[0]).toMatchObject({ status: 'resolved', fingerprint: alert.fingerprint, labels: { queue: 'transcribe' } });
    expect(new Date(resolved.body.alerts[0].endsAt).getTime()).toBeGreaterThan(new Date(alert.startsAt).getTime());
    console.log(`alerting-chain: firing webhook ${firedAfterS.toFixed(1)} s after start, resolved ${((resolved.at - cleared) / 1000).toFixed(1)} s after the metric cleared`);
  }, 60_000);
});
