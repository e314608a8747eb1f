/* eslint-disable @typescript-eslint/no-explicit-any -- API replies are JSON of many shapes */
/**
 * The on-call agent (issue 14): Alertmanager v4 payloads POSTed to a real api, a real agent (the
 * scheduler leader's, on its own Postgres/Redis wiring) acting on real BullMQ queues, a stand-in
 * Prometheus for the verify queries and a local webhook as the owner's notification channel.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import IORedis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSchedulerAgent } from '../src/agent/scheduler-agent';
import type { Config } from '../src/config/config';
import { createRoleContext, type RoleContext } from '../src/roles/context';
import { LeaderLock } from '../src/scheduler/leader-lock';
import { apiConfig, call, freshDatabase, openEvents, startApi, waitFor } from './api-support';

const DB = 'podbrain_test_e2_agent';
const KEY = 'agent-admin-key';
const HOOK_TOKEN = 'alertmanager-webhook-token';
const PUBLIC_URL = 'http://podbrain.home.test:8080';

const RUNBOOKS: Record<string, string> = {
  'queue-paused': `id: queue-paused
title: A queue is paused
alerts: [PodbrainQueuePaused]
severity: P2
summary: A queue has been paused with work waiting.
diagnose:
  - step: Queues
    admin: queues
  - step: Paused metric
    query: 'podbrain_queue_paused{queue="{queue}"}'
actions:
  - id: resume
    action: resume-queue
    args: { queue: '{queue}' }
    description: Resume the queue
    mode: auto
    max_per_hour: 3
verify:
  query: 'podbrain_queue_paused{queue="{queue}"} == 0'
escalate: The queue stays paused; look at why it was paused.
`,
  'needs-human': `id: needs-human
title: Disk is low
alerts: [PodbrainDiskLow]
severity: P1
summary: The data disk is nearly full.
diagnose:
  - step: For a human
    command: df -h /data
actions:
  - id: resume-after-cleanup
    action: resume-queue
    args: { queue: '{queue}' }
    description: Resume the queue once there is room
    mode: approve
  - id: tell
    description: Free some disk space by hand
    mode: manual
`,
};

let db: Awaited<ReturnType<typeof freshDatabase>>;
let config: Config;
let api: Awaited<ReturnType<typeof startApi>>;
let role: RoleContext;
let lock: LeaderLock;
let agent: ReturnType<typeof createSchedulerAgent>;
let redis: IORedis;
const queues: Record<string, Queue> = {};

/** Stand-in Prometheus: /api/v1/query answers the vector the test put under that exact query (else empty). */
const promAnswers = new Map<string, number>();
const promQueries: string[] = [];
const prometheus = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams.get('query') ?? '';
  promQueries.push(q);
  const v = promAnswers.get(q);
  const result = v === undefined ? [] : [{ metric: { __name__: 'answer' }, value: [Date.now() / 1000, String(v)] }];
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ status: 'success', data: { resultType: 'vector', result } }));
});

/** The owner's webhook channel: every notification the agent sends. */
const notes: any[] = [];
const receiver = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    notes.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
    res.end('ok');
  });
});

const port = (s: http.Server) => (s.address() as AddressInfo).port;

beforeAll(async () => {
  await new Promise<void>((r) => prometheus.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'podbrain-runbooks-'));
  for (const [id, text] of Object.entries(RUNBOOKS)) writeFileSync(path.join(dir, `${id}.yml`), text);
  db = await freshDatabase(DB);
  config = apiConfig(db.url, {
    AUTH_API_KEY: KEY,
    AGENT_WEBHOOK_TOKEN: HOOK_TOKEN,
    AGENT_MODE: 'shadow',
    AGENT_TICK_MS: '200',
    AGENT_VERIFY_S: '2',
    RUNBOOKS_DIR: dir,
    PROMETHEUS_URL: `http://127.0.0.1:${port(prometheus)}`,
    NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${port(receiver)}/hook`,
    NOTIFY_REPEAT_WINDOW_S: '0',
    PUBLIC_URL,
  });
  api = await startApi(config);
  redis = new IORedis(config.redisUrl, { maxRetriesPerRequest: null });
  for (const name of ['digest', 'enrich', 'index', 'project']) queues[name] = new Queue(name, { connection: redis, prefix: config.queue.prefix });
  role = await createRoleContext({ ...config, role: 'scheduler' }, { poolSize: 4 });
  lock = new LeaderLock(role.redis, `${config.queue.prefix}:scheduler:leader`, 10_000);
  expect(await lock.tick()).toBe(true);
  agent = createSchedulerAgent(role, () => lock.isLeader);
  agent.agent.start();
}, 60_000);

afterAll(async () => {
  await agent?.close();
  await lock?.release();
  await role?.close();
  for (const q of Object.values(queues)) await q.close();
  redis?.disconnect();
  await api?.close();
  await db?.drop();
  prometheus.close();
  receiver.close();
});

let seq = 0;
/** One Alertmanager v4 delivery of one alert. */
function delivery(status: 'firing' | 'resolved', alertname: string, labels: Record<string, string>, runbook: string | null, fingerprint: string) {
  const alert = {
    status,
    labels: { alertname, job: 'podbrain', ...labels },
    annotations: { summary: `${alertname} test`, ...(runbook ? { runbook } : {}) },
    startsAt: new Date(Date.now() - 60_000).toISOString(),
    endsAt: status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
    generatorURL: 'http://prometheus/graph',
    fingerprint,
  };
  return { version: '4', groupKey: `{}:{alertname="${alertname}"}`, truncatedAlerts: 0, status, receiver: 'podbrain-agent', groupLabels: { alertname }, commonLabels: alert.labels, commonAnnotations: alert.annotations, externalURL: 'http://alertmanager:9093', alerts: [alert] };
}

const post = (body: unknown, key = HOOK_TOKEN) => call(api.base, 'POST', '/api/admin/alerts', { json: body, key });
const incidents = async (q = ''): Promise<any[]> => (await call(api.base, 'GET', `/api/admin/incidents${q}`, { key: KEY })).body.items;
const incident = async (id: string): Promise<any> => (await call(api.base, 'GET', `/api/admin/incidents/${id}`, { key: KEY })).body;
const setAgent = async (body: unknown) => call(api.base, 'PUT', '/api/admin/agent', { json: body, key: KEY });
const fp = () => `fp${Date.now().toString(16)}${seq++}`;

/** Fires an alert and waits for its incident (the one of that fingerprint) to satisfy `until`. */
async function fire(alertname: string, labels: Record<string, string>, runbook: string | null, until: (i: any) => boolean, timeoutMs = 10_000) {
  const fingerprint = fp();
  expect((await post(delivery('firing', alertname, labels, runbook, fingerprint))).status).toBe(200);
  const found = await waitFor(async () => {
    const hit = (await incidents()).find((i) => i.fingerprint === fingerprint);
    return hit && until(hit) ? hit : null;
  }, timeoutMs);
  return { fingerprint, incident: found };
}

const agentAudit = async (): Promise<any[]> => ((await call(api.base, 'GET', '/api/admin/audit?limit=500', { key: KEY })).body.items as any[]).filter((i) => i.actor === 'agent');

describe('alert intake', () => {
  it('takes the webhook token or the admin key; refuses a wrong or missing one (401) and garbage (400)', async () => {
    await setAgent({ mode: 'off' });
    const body = delivery('firing', 'PodbrainTestAuth', { role: 'worker-io' }, null, fp());
    expect((await post(body)).status).toBe(200);
    expect((await post(body, KEY)).status).toBe(200);
    expect((await post(body, 'wrong-token')).status).toBe(401);
    expect((await call(api.base, 'POST', '/api/admin/alerts', { json: body })).status).toBe(401);
    // the webhook token opens no other admin route
    expect((await call(api.base, 'GET', '/api/admin/incidents', { key: HOOK_TOKEN })).status).toBe(401);
    expect((await call(api.base, 'POST', '/api/admin/alerts', { body: '{"version":', type: 'application/json', key: HOOK_TOKEN })).status).toBe(400);
    expect((await post({ ...body, version: '3' })).status).toBe(400);
    expect((await post({ version: '4', status: 'firing', alerts: 'nope' })).status).toBe(400);
    expect((await post({ version: '4', status: 'firing', alerts: [{ status: 'firing', labels: { alertname: 'x'.repeat(20_000) } }] })).status).toBe(400);
    const tooMany = { version: '4', status: 'firing', alerts: Array.from({ length: 1001 }, () => body.alerts[0]) };
    expect((await post(tooMany)).status).toBe(400);
    // Alertmanager's call is audited as alertmanager
    const audit = await waitFor(async () => {
      const items = ((await call(api.base, 'GET', '/api/admin/audit?limit=100', { key: KEY })).body.items as any[]).filter((i) => i.path === '/api/admin/alerts');
      return items.length >= 8 ? items : null;
    });
    expect(audit.filter((i) => i.actor === 'alertmanager').map((i) => i.status)).toEqual(expect.arrayContaining([200, 400]));
    expect(audit.filter((i) => i.actor === 'wrong-key').map((i) => i.status)).toEqual([401]);
  });

  it('opens one incident per fingerprint under repeats; resolved closes it; a new firing opens a new one', async () => {
    await setAgent({ mode: 'off' });
    const fingerprint = fp();
    const firing = delivery('firing', 'PodbrainTestRepeat', { queue: 'digest' }, 'queue-paused', fingerprint);
    const answers = await Promise.all([post(firing), post(firing), post(firing)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    expect(answers.reduce((n, a) => n + a.body.opened, 0)).toBe(1);
    await post(firing);
    const mine = (await incidents()).filter((i) => i.fingerprint === fingerprint);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ alert: 'PodbrainTestRepeat', status: 'open', runbook: 'queue-paused', mode: 'off', labels: { queue: 'digest' } });
    const stillFiring = mine[0].events.filter((e: any) => e.kind === 'still_firing');
    expect(stillFiring).toHaveLength(1);
    expect(stillFiring[0].data.repeats).toBe(3);

    const resolved = delivery('resolved', 'PodbrainTestRepeat', { queue: 'digest' }, 'queue-paused', fingerprint);
    expect((await post(resolved)).body).toMatchObject({ resolved: 1 });
    expect((await post(resolved)).body).toMatchObject({ resolved: 0, ignored: 1 });
    const closed = await incident(mine[0].id);
    expect(closed.status).toBe('resolved');
    expect(closed.resolved_at).not.toBeNull();
    expect(closed.events.map((e: any) => e.kind)).toContain('resolved');

    expect((await post(firing)).body.opened).toBe(1);
    const both = (await incidents()).filter((i) => i.fingerprint === fingerprint);
    expect(both.map((i) => i.status)).toEqual(['open', 'resolved']);
    // in off mode the agent records, notifies, and does nothing else
    const off = await waitFor(async () => ((await incident(both[0].id)).events.some((e: any) => e.kind === 'agent_off') ? incident(both[0].id) : null));
    expect(off.actions).toEqual([]);
    await post(resolved);
  });

  it('404 for an unknown incident, 400 for a malformed id, status filter and cursor', async () => {
    expect((await call(api.base, 'GET', '/api/admin/incidents/999999', { key: KEY })).status).toBe(404);
    expect((await call(api.base, 'GET', '/api/admin/incidents/abc', { key: KEY })).status).toBe(400);
    expect((await call(api.base, 'GET', '/api/admin/incidents?status=weird', { key: KEY })).status).toBe(400);
    const resolved = await incidents('?status=resolved');
    expect(resolved.length).toBeGreaterThan(0);
    expect(resolved.every((i) => i.status === 'resolved')).toBe(true);
    const first = (await call(api.base, 'GET', '/api/admin/incidents?limit=1', { key: KEY })).body;
    expect(first.items).toHaveLength(1);
    const next = (await call(api.base, 'GET', `/api/admin/incidents?limit=1&cursor=${first.next_cursor}`, { key: KEY })).body;
    expect(Number(next.items[0].id)).toBeLessThan(Number(first.items[0].id));
  });
});

describe('the agent', () => {
  it('GET|PUT /api/admin/agent: mode and kill switch, validated', async () => {
    expect((await setAgent({ mode: 'auto', kill_switch: false })).body).toEqual({ mode: 'auto', kill_switch: false });
    expect((await call(api.base, 'GET', '/api/admin/agent', { key: KEY })).body).toEqual({ mode: 'auto', kill_switch: false });
    expect((await setAgent({ mode: 'yolo' })).status).toBe(400);
    expect((await setAgent({})).status).toBe(400);
    expect((await setAgent({ kill_switch: 'maybe' })).status).toBe(400);
    expect((await call(api.base, 'PUT', '/api/admin/agent', { json: { mode: 'auto' } })).status).toBe(401);
  });

  it('shadow: records what it would do, runs nothing', async () => {
    await setAgent({ mode: 'shadow', kill_switch: false });
    await queues.digest.pause();
    const before = (await agentAudit()).length;
    const { incident: i } = await fire('PodbrainQueuePaused', { queue: 'digest' }, 'queue-paused', (x) => x.events.some((e: any) => e.kind === 'runbook_done'));
    expect(i.actions).toEqual([expect.objectContaining({ n: 1, id: 'resume', action: 'resume-queue', args: { queue: 'digest' }, status: 'proposed', detail: 'would run resume-queue {queue: digest}' })]);
    expect(await queues.digest.isPaused()).toBe(true);
    expect((await agentAudit()).length).toBe(before);
    // the diagnosis ran for real: the admin read and the PromQL against the stand-in
    const diag = i.events.filter((e: any) => e.kind === 'diagnose');
    expect(diag.map((e: any) => e.data.status)).toEqual(['ok', 'ok']);
    expect(diag[0].data.output).toContain('"queue":"digest","paused":true');
    expect(promQueries).toContain('podbrain_queue_paused{queue="digest"}');
    expect(notes).toContainEqual(expect.objectContaining({ kind: 'incident_opened', incident_id: i.id, link: `${PUBLIC_URL}/incidents/${i.id}` }));
    await post(delivery('resolved', 'PodbrainQueuePaused', { queue: 'digest' }, 'queue-paused', i.fingerprint));
  });

  it('auto: runs an auto action (a really paused queue is really resumed), audits it, verifies, and tells of the resolution', async () => {
    await setAgent({ mode: 'auto' });
    await queues.digest.pause();
    promAnswers.set('podbrain_queue_paused{queue="digest"} == 0', 0);
    const sse = await openEvents(`${api.base}/api/events`);
    try {
      const { incident: i, fingerprint } = await fire('PodbrainQueuePaused', { queue: 'digest' }, 'queue-paused', (x) => x.events.some((e: any) => e.kind === 'recovered'));
      expect(await queues.digest.isPaused()).toBe(false);
      expect(i.status).toBe('open');
      expect(i.actions).toEqual([expect.objectContaining({ n: 1, id: 'resume', status: 'executed', detail: 'queue digest resumed' })]);
      const audit = await agentAudit();
      expect(audit[0]).toMatchObject({ actor: 'agent', method: 'ACTION', path: 'resume-queue', status: 200, params: { incident: i.id, step: 'resume', args: { queue: 'digest' } } });
      await sse.next((e) => e.event === 'incident' && e.data.id === i.id && e.data.kind === 'executed');

      await post(delivery('resolved', 'PodbrainQueuePaused', { queue: 'digest' }, 'queue-paused', fingerprint));
      await waitFor(async () => notes.find((n) => n.kind === 'resolved' && n.incident_id === i.id));
      await sse.next((e) => e.event === 'incident' && e.data.id === i.id && e.data.status === 'resolved');
    } finally {
      sse.close();
      promAnswers.clear();
    }
  });

  it('approve: waits, the notification links to the incident, approval runs it (once); deny does not, and a manual step only tells', async () => {
    await setAgent({ mode: 'auto' });
    await queues.index.pause();
    const { incident: i } = await fire('PodbrainDiskLow', { queue: 'index' }, 'needs-human', (x) => x.actions.some((a: any) => a.status === 'awaiting_approval'));
    expect(i.actions).toEqual([expect.objectContaining({ n: 1, id: 'resume-after-cleanup', status: 'awaiting_approval' })]);
    const note = await waitFor(async () => notes.find((n) => n.kind === 'needs_approval' && n.incident_id === i.id));
    expect(note.link).toBe(`${PUBLIC_URL}/incidents/${i.id}`);
    await new Promise((r) => setTimeout(r, 600)); // a few agent passes: still waiting, nothing ran
    expect(await queues.index.isPaused()).toBe(true);

    expect((await call(api.base, 'POST', `/api/admin/incidents/${i.id}/actions/1/approve`, { key: HOOK_TOKEN })).status).toBe(401);
    expect((await call(api.base, 'POST', `/api/admin/incidents/${i.id}/actions/7/approve`, { key: KEY })).status).toBe(404);
    const approved = await call(api.base, 'POST', `/api/admin/incidents/${i.id}/actions/1/approve`, { key: KEY });
    expect(approved.status).toBe(200);
    expect(approved.body.actions[0]).toMatchObject({ status: expect.stringMatching(/^(approved|executed)$/), decided_by: 'admin-key' });
    expect((await call(api.base, 'POST', `/api/admin/incidents/${i.id}/actions/1/approve`, { key: KEY })).status).toBe(409);
    await waitFor(async () => (await incident(i.id)).actions[0].status === 'executed');
    expect(await queues.index.isPaused()).toBe(false);
    expect((await call(api.base, 'POST', `/api/admin/incidents/${i.id}/actions/1/deny`, { key: KEY })).status).toBe(409);

    // the same alert elsewhere: denied → not run; then the manual step is only told
    await queues.project.pause();
    const { incident: j } = await fire('PodbrainDiskLow', { queue: 'project' }, 'needs-human', (x) => x.actions.some((a: any) => a.status === 'awaiting_approval'));
    expect((await call(api.base, 'POST', `/api/admin/incidents/${j.id}/actions/1/deny`, { key: KEY })).status).toBe(200);
    const after = await waitFor(async () => {
      const x = await incident(j.id);
      return x.actions.length === 2 ? x : null;
    });
    expect(after.actions).toEqual([expect.objectContaining({ n: 1, status: 'denied' }), expect.objectContaining({ n: 2, id: 'tell', action: null, status: 'skipped', detail: 'manual: the owner is told (Free some disk space by hand)' })]);
    expect(await queues.project.isPaused()).toBe(true);
    await waitFor(async () => notes.find((n) => n.kind === 'needs_approval' && n.incident_id === j.id && n.body.includes('Free some disk space')));
    // nothing left to try, the alert still fires: escalated
    await waitFor(async () => (await incident(j.id)).status === 'escalated');
    await queues.project.resume();
  });

  it('kill switch: nothing is executed', async () => {
    await setAgent({ mode: 'auto', kill_switch: true });
    await queues.enrich.pause();
    const before = (await agentAudit()).length;
    const { incident: i } = await fire('PodbrainQueuePaused', { queue: 'enrich' }, 'queue-paused', (x) => x.actions.length > 0 && x.events.some((e: any) => e.kind === 'runbook_done'));
    expect(i.actions).toEqual([expect.objectContaining({ status: 'skipped', detail: 'kill switch on: resume-queue {queue: enrich} not run' })]);
    expect(await queues.enrich.isPaused()).toBe(true);
    expect((await agentAudit()).length).toBe(before);
    expect(i.status).toBe('open');
    await setAgent({ kill_switch: false });
    await post(delivery('resolved', 'PodbrainQueuePaused', { queue: 'enrich' }, 'queue-paused', i.fingerprint));
  });

  it('verify failure: not recovered within AGENT_VERIFY_S and no step left → escalated, the owner told', async () => {
    await setAgent({ mode: 'auto', kill_switch: false });
    await queues.enrich.pause();
    // the stand-in answers the verify query with nothing: never recovered
    const { incident: i } = await fire('PodbrainQueuePaused', { queue: 'enrich' }, 'queue-paused', (x) => x.status === 'escalated', 15_000);
    expect(i.actions).toEqual([expect.objectContaining({ status: 'executed' })]);
    expect(i.events.map((e: any) => e.kind)).toEqual(expect.arrayContaining(['executed', 'not_recovered', 'escalated']));
    const note = await waitFor(async () => notes.find((n) => n.kind === 'escalated' && n.incident_id === i.id));
    expect(note.body).toContain('The queue stays paused');
    expect(promQueries).toContain('podbrain_queue_paused{queue="enrich"} == 0');
    await post(delivery('resolved', 'PodbrainQueuePaused', { queue: 'enrich' }, 'queue-paused', i.fingerprint));
    await waitFor(async () => notes.find((n) => n.kind === 'resolved' && n.incident_id === i.id));
  });

  it('max_per_hour: the 4th run of a step within an hour (across incidents) is skipped and escalated', async () => {
    await setAgent({ mode: 'auto', kill_switch: false });
    promAnswers.set('podbrain_queue_paused{queue="ingest"} == 0', 0);
    await queues.digest.resume();
    const ingest = new Queue('ingest', { connection: redis, prefix: config.queue.prefix });
    try {
      for (let k = 1; k <= 3; k++) {
        await ingest.pause();
        const { incident: i } = await fire('PodbrainQueuePaused', { queue: 'ingest' }, 'queue-paused', (x) => x.actions[0]?.status === 'executed');
        expect(await ingest.isPaused()).toBe(false);
        await post(delivery('resolved', 'PodbrainQueuePaused', { queue: 'ingest' }, 'queue-paused', i.fingerprint));
      }
      await ingest.pause();
      const { incident: fourth } = await fire('PodbrainQueuePaused', { queue: 'ingest' }, 'queue-paused', (x) => x.status === 'escalated');
      expect(fourth.actions).toEqual([expect.objectContaining({ status: 'skipped', detail: 'max_per_hour reached: resume-queue {queue: ingest} ran 3 time(s) in the last hour (limit 3)' })]);
      expect(await ingest.isPaused()).toBe(true);
      await waitFor(async () => notes.find((n) => n.kind === 'escalated' && n.incident_id === fourth.id));
      await post(delivery('resolved', 'PodbrainQueuePaused', { queue: 'ingest' }, 'queue-paused', fourth.fingerprint));
    } finally {
      await ingest.resume();
      await ingest.close();
      promAnswers.clear();
    }
  });

  it('an unknown runbook is recorded and told; a non-leader agent does nothing', async () => {
    await setAgent({ mode: 'auto' });
    const { incident: i } = await fire('PodbrainMystery', { role: 'worker-io' }, 'no-such-runbook', (x) => x.events.some((e: any) => e.kind === 'no_runbook'));
    expect(i.actions).toEqual([]);
    const note = await waitFor(async () => notes.find((n) => n.kind === 'incident_opened' && n.incident_id === i.id));
    expect(note.body).toContain('no runbook no-such-runbook');

    await lock.release();
    try {
      await queues.digest.pause();
      const fingerprint = fp();
      await post(delivery('firing', 'PodbrainQueuePaused', { queue: 'digest' }, 'queue-paused', fingerprint));
      await new Promise((r) => setTimeout(r, 800));
      const idle = (await incidents()).find((x) => x.fingerprint === fingerprint);
      expect(idle.actions).toEqual([]);
      expect(idle.events.map((e: any) => e.kind)).toEqual(['opened']);
      expect(await queues.digest.isPaused()).toBe(true);
      await post(delivery('resolved', 'PodbrainQueuePaused', { queue: 'digest' }, 'queue-paused', fingerprint));
    } finally {
      expect(await lock.tick()).toBe(true);
      await queues.digest.resume();
    }
  });
});
