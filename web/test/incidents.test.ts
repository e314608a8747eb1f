import { flushPromises, mount } from '@vue/test-utils';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory, createRouter } from 'vue-router';
import type { AgentSettings, Incident, IncidentAction } from '../src/api/schema';

/** A controllable EventSource: the test pushes events by hand. */
class FakeEventSource {
  static last: FakeEventSource | null = null;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  private listeners = new Map<string, ((m: MessageEvent<string>) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.last = this;
    queueMicrotask(() => this.onopen?.());
  }
  addEventListener(type: string, fn: (m: MessageEvent<string>) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  push(type: string, data: unknown) {
    for (const fn of this.listeners.get(type) ?? []) fn({ data: JSON.stringify(data) } as MessageEvent<string>);
  }
}

const HOSTILE = '<script>window.pwned=1</script><img src=x onerror=alert(1)>';

const action = (n: number, over: Partial<IncidentAction> = {}): IncidentAction => ({
  n,
  id: 'free-space',
  action: 'clean-artifacts',
  args: { older_than: '30d' },
  mode: 'approve',
  status: 'awaiting_approval',
  at: '2026-11-20T10:00:03Z',
  detail: null,
  decided_by: null,
  ...over,
});

const incident = (id: string, over: Partial<Incident> = {}): Incident => ({
  id,
  alert: 'PodbrainDiskLow',
  fingerprint: `fp${id}`,
  labels: { alertname: 'PodbrainDiskLow', role: 'worker-gpu', queue: HOSTILE, severity: 'warning' },
  annotations: { runbook: 'disk-low' },
  runbook: 'disk-low',
  status: 'open',
  mode: 'auto',
  opened_at: '2026-11-20T10:00:00Z',
  resolved_at: null,
  updated_at: '2026-11-20T10:00:03Z',
  summary: null,
  events: [
    { at: '2026-11-20T10:00:00Z', kind: 'opened', message: 'PodbrainDiskLow fired', data: {} },
    { at: '2026-11-20T10:00:02Z', kind: 'diagnose', message: 'Free space: ok', data: { kind: 'query', output: `{instance="x"} 0.04\n${HOSTILE}` } },
    { at: '2026-11-20T10:00:04Z', kind: 'notified', message: 'needs approval: sent', data: {} },
  ],
  actions: [action(1)],
  ...over,
});

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
}

interface Call {
  method: string;
  url: string;
  body?: string;
  auth?: string;
}

/** The admin api as the page reads it; `answer` overrides one route. */
function stubApi(state: { incidents: Incident[]; agent: AgentSettings; key?: string }, answer: (c: Call) => Response | undefined | Promise<Response | undefined> = () => undefined) {
  const calls: Call[] = [];
  const fetchMock = vi.fn(async (url: string, init: RequestInit = {}) => {
    const headers = (init.headers ?? {}) as Record<string, string>;
    const c: Call = { method: init.method ?? 'GET', url, body: init.body as string | undefined, auth: headers.Authorization };
    calls.push(c);
    if (state.key && c.auth !== `Bearer ${state.key}`) return jsonResponse(401, { error: { code: 'unauthorized', message: 'this route needs the API key' } });
    const own = await answer(c);
    if (own) return own;
    const path = new URL(url, 'http://x').pathname;
    if (path === '/api/admin/agent' && c.method === 'GET') return jsonResponse(200, state.agent);
    if (path === '/api/admin/agent' && c.method === 'PUT') {
      state.agent = { ...state.agent, ...JSON.parse(c.body!) };
      return jsonResponse(200, state.agent);
    }
    if (path === '/api/admin/incidents') {
      const status = new URL(url, 'http://x').searchParams.get('status');
      return jsonResponse(200, { items: state.incidents.filter((i) => !status || i.status === status), next_cursor: null });
    }
    const m = /^\/api\/admin\/incidents\/([^/]+)(?:\/actions\/(\d+)\/(approve|deny))?$/.exec(path);
    const found = m && state.incidents.find((i) => i.id === decodeURIComponent(m[1]));
    if (m && !found) return jsonResponse(404, { error: { code: 'not_found', message: `No incident ${decodeURIComponent(m[1])}` } });
    if (found && !m![2]) return jsonResponse(200, found);
    if (found && c.method === 'POST') {
      const a = found.actions.find((x) => x.n === Number(m![2]))!;
      if (a.status !== 'awaiting_approval') return jsonResponse(409, { error: { code: 'conflict', message: `action ${a.n} is ${a.status}, not awaiting approval` } });
      a.status = m![3] === 'approve' ? 'approved' : 'denied';
      a.decided_by = 'admin-key';
      return jsonResponse(200, found);
    }
    return jsonResponse(404, { error: { code: 'not_found', message: url } });
  });
  vi.stubGlobal('fetch', fetchMock);
  return calls;
}

async function mountAt(path: string) {
  const { default: IncidentsView } = await import('../src/views/IncidentsView.vue');
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/incidents', component: IncidentsView }, { path: '/incidents/:id', component: IncidentsView }] });
  await router.push(path);
  const w = mount(IncidentsView, { global: { plugins: [router] }, attachTo: document.body });
  await flushPromises();
  return { w, router };
}

const writes = (calls: Call[]) => calls.filter((c) => c.method !== 'GET');

beforeEach(() => {
  vi.resetModules();
  vi.stubGlobal('EventSource', FakeEventSource);
  localStorage.clear();
  document.body.innerHTML = '';
});
afterEach(() => vi.unstubAllGlobals());

describe('IncidentsView list', () => {
  it('lists incidents with status in words, key labels, runbook and mode; a hostile label is text, never markup', async () => {
    stubApi({
      incidents: [incident('2'), incident('1', { alert: 'PodbrainWorkerDead', status: 'resolved', resolved_at: '2026-11-20T10:05:00Z', actions: [], labels: { alertname: 'PodbrainWorkerDead', role: 'worker-cpu' }, runbook: null, mode: 'shadow' })],
      agent: { mode: 'shadow', kill_switch: false },
    });
    const { w } = await mountAt('/incidents');
    const rows = w.findAll('[data-incident]');
    expect(rows.map((r) => r.attributes('data-incident'))).toEqual(['2', '1']);
    expect(rows[0].find('[data-testid=status]').text()).toBe('open');
    expect(rows[0].text()).toContain('1 awaiting approval');
    expect(rows[0].text()).toContain('role=worker-gpu');
    expect(rows[0].text()).toContain(`queue=${HOSTILE}`);
    expect(rows[0].text()).toContain('runbook disk-low · mode auto');
    expect(rows[0].find('a').attributes('href')).toBe('/incidents/2');
    expect(rows[1].find('[data-testid=status]').text()).toBe('resolved');
    expect(rows[1].text()).toContain('runbook none · mode shadow');
    expect(rows[1].text()).toContain('resolved');
    // Rendered as text: no element came out of the label.
    expect(w.find('script').exists()).toBe(false);
    expect(w.find('img').exists()).toBe(false);
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
    w.unmount();
  });

  it('filters by status through the query string, and says when there is nothing', async () => {
    const calls = stubApi({ incidents: [incident('1', { status: 'resolved' })], agent: { mode: 'off', kill_switch: false } });
    const { w, router } = await mountAt('/incidents');
    expect(w.findAll('[data-incident]')).toHaveLength(1);
    await w.find('select#inc-filter').setValue('open');
    await flushPromises();
    expect(router.currentRoute.value.query).toEqual({ status: 'open' });
    expect(calls.some((c) => c.url.includes('/admin/incidents?') && c.url.includes('status=open'))).toBe(true);
    expect(w.text()).toContain('No incidents (open).');
    w.unmount();
  });

  it('a 401 shows the key form; the saved key is sent and the page loads', async () => {
    const calls = stubApi({ incidents: [incident('1')], agent: { mode: 'auto', kill_switch: false }, key: 'sekrit' });
    const { w } = await mountAt('/incidents');
    expect(w.find('[role=alert]').text()).toContain('need the admin API key');
    expect(w.find('[data-incident]').exists()).toBe(false);
    await w.find('[data-testid=api-key]').setValue('sekrit');
    await w.find('form').trigger('submit');
    await flushPromises();
    expect(w.find('[data-testid=api-key]').exists()).toBe(false);
    expect(w.findAll('[data-incident]')).toHaveLength(1);
    expect(calls.at(-1)!.auth).toBe('Bearer sekrit');
    w.unmount();
  });
});

describe('IncidentsView detail', () => {
  it('opens an incident by its link and merges events and actions by time, diagnose output collapsible', async () => {
    stubApi({ incidents: [incident('7', { summary: `Disk nearly full. ${HOSTILE}` })], agent: { mode: 'auto', kill_switch: false } });
    const { w } = await mountAt('/incidents/7');
    expect(w.find('h1').text()).toContain('PodbrainDiskLow');
    expect(w.find('h1 [data-testid=status]').text()).toBe('open');
    expect(w.find('[data-testid=summary]').text()).toBe(`Disk nearly full. ${HOSTILE}`);
    const entries = w.findAll('[data-testid=timeline] > li');
    // 10:00:00 opened, 10:00:02 diagnose, 10:00:03 action 1, 10:00:04 notified
    expect(entries.map((e) => e.attributes('data-testid'))).toEqual(['event', 'event', 'action', 'event']);
    const diag = entries[1].find('details');
    expect(diag.find('summary').text()).toBe('Free space: ok');
    expect(diag.find('pre').text()).toBe(`{instance="x"} 0.04\n${HOSTILE}`);
    expect(entries[2].text()).toContain('clean-artifacts (older_than=30d)');
    expect(entries[2].find('[data-testid=status]').text()).toBe('awaiting approval');
    expect(w.find('script').exists()).toBe(false);
    expect(w.find('img').exists()).toBe(false);
    w.unmount();
  });

  it('approve asks first, then posts once with the button disabled while it runs; deny posts at once', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const calls = stubApi({ incidents: [incident('7', { actions: [action(1), action(2, { id: 'restart', action: 'restart-role', args: { role: 'worker-gpu' } })] })], agent: { mode: 'auto', kill_switch: false } }, async (c) => {
      if (c.url.endsWith('/actions/1/approve')) await gate; // then falls through to the stub's answer
      return undefined;
    });
    const { w } = await mountAt('/incidents/7');
    const approve = () => w.find('[data-n="1"] button[aria-label^="Approve"]');
    await approve().trigger('click');
    expect(writes(calls)).toHaveLength(0); // only the confirm step so far
    const yes = w.find('[data-n="1"] .decide button.primary');
    expect(yes.text()).toBe('Yes, run it');
    expect(document.activeElement).toBe(yes.element);
    await yes.trigger('click');
    await flushPromises();
    expect(writes(calls).map((c) => `${c.method} ${c.url}`)).toEqual(['POST /api/admin/incidents/7/actions/1/approve']);
    expect(approve().attributes('disabled')).toBeDefined();
    expect(w.find('[data-n="1"] button[aria-label^="Deny"]').attributes('disabled')).toBeDefined();
    release();
    await flushPromises();
    expect(w.find('[data-n="1"] [data-testid=status]').text()).toBe('approved');
    expect(w.find('[data-n="1"] .decide').exists()).toBe(false);
    expect(w.find('[data-testid=announcement]').text()).toBe('Action 1 approved: approved');

    await w.find('[data-n="2"] button[aria-label^="Deny"]').trigger('click');
    await flushPromises();
    expect(writes(calls).map((c) => c.url).at(-1)).toBe('/api/admin/incidents/7/actions/2/deny');
    expect(w.find('[data-n="2"] [data-testid=status]').text()).toBe('denied');
    expect(w.text()).toContain('by admin-key');
    w.unmount();
  });

  it("shows the api's refusal next to the action (decided elsewhere meanwhile)", async () => {
    stubApi({ incidents: [incident('7')], agent: { mode: 'auto', kill_switch: false } }, (c) =>
      c.method === 'POST' ? jsonResponse(409, { error: { code: 'conflict', message: 'action 1 is executed, not awaiting approval' } }) : undefined,
    );
    const { w } = await mountAt('/incidents/7');
    await w.find('[data-n="1"] button[aria-label^="Deny"]').trigger('click');
    await flushPromises();
    expect(w.find('[data-n="1"] [role=alert]').text()).toBe('action 1 is executed, not awaiting approval');
    expect(w.find('[data-n="1"] button[aria-label^="Deny"]').attributes('disabled')).toBeUndefined();
    w.unmount();
  });

  it('an unknown id shows the api error; an `event: incident` for this incident re-reads it', async () => {
    const state = { incidents: [incident('7')], agent: { mode: 'auto' as const, kill_switch: false } };
    const calls = stubApi(state);
    const { w, router } = await mountAt('/incidents/999');
    expect(w.find('[role=alert]').text()).toContain('No incident 999');
    await router.push('/incidents/7');
    await flushPromises();
    const reads = () => calls.filter((c) => c.url === '/api/admin/incidents/7').length;
    const before = reads();
    state.incidents[0] = incident('7', { status: 'resolved', resolved_at: '2026-11-20T10:09:00Z' });
    FakeEventSource.last!.push('incident', { id: '8', status: 'open', kind: 'opened', at: '2026-11-20T10:09:00Z' });
    await new Promise((r) => setTimeout(r, 400));
    expect(reads()).toBe(before); // another incident: not this page's business
    FakeEventSource.last!.push('incident', { id: '7', status: 'resolved', kind: 'resolved', at: '2026-11-20T10:09:00Z' });
    await new Promise((r) => setTimeout(r, 400));
    await flushPromises();
    expect(reads()).toBe(before + 1);
    expect(w.find('h1 [data-testid=status]').text()).toBe('resolved');
    expect(w.find('[data-testid=announcement]').text()).toBe('This incident is now resolved');
    w.unmount();
  });
});

describe('IncidentsView agent controls', () => {
  it('the kill switch asks before turning on and before turning off; cancel sends nothing', async () => {
    const calls = stubApi({ incidents: [], agent: { mode: 'auto', kill_switch: false } });
    const { w } = await mountAt('/incidents');
    const toggle = () => w.find('.kill-toggle');
    expect(toggle().text()).toBe('Kill switch: off');
    expect(toggle().attributes('aria-pressed')).toBe('false');
    await toggle().trigger('click');
    expect(w.find('[data-testid=kill-switch]').text()).toContain('Turn the kill switch on?');
    await w.findAll('[data-testid=kill-switch] .confirm button').find((b) => b.text() === 'Cancel')!.trigger('click');
    expect(writes(calls)).toHaveLength(0);
    expect(w.find('.confirm').exists()).toBe(false);

    await toggle().trigger('click');
    await w.find('[data-testid=kill-switch] .confirm button.danger').trigger('click');
    await flushPromises();
    expect(writes(calls).map((c) => [c.method, c.url, JSON.parse(c.body!)])).toEqual([['PUT', '/api/admin/agent', { kill_switch: true }]]);
    expect(toggle().text()).toBe('Kill switch: ON');
    expect(toggle().attributes('aria-pressed')).toBe('true');
    expect(w.find('[data-testid=announcement]').text()).toBe('Kill switch on: no agent action will run');

    await toggle().trigger('click');
    expect(w.find('[data-testid=kill-switch]').text()).toContain('Turn the kill switch off?');
    await w.find('[data-testid=kill-switch] .confirm button.danger').trigger('click');
    await flushPromises();
    expect(JSON.parse(writes(calls).at(-1)!.body!)).toEqual({ kill_switch: false });
    expect(toggle().text()).toBe('Kill switch: off');
    w.unmount();
  });

  it('changes the mode with one PUT, explains shadow, and shows a refusal', async () => {
    const calls = stubApi({ incidents: [], agent: { mode: 'shadow', kill_switch: false } }, (c) =>
      c.method === 'PUT' && c.body?.includes('off') ? jsonResponse(400, { error: { code: 'invalid', message: 'mode: not now' } }) : undefined,
    );
    const { w } = await mountAt('/incidents');
    const radio = (m: string) => w.find(`input[name=agent-mode][value=${m}]`);
    expect((radio('shadow').element as HTMLInputElement).checked).toBe(true);
    expect(w.find(`#${radio('shadow').attributes('aria-describedby')}`).text()).toContain('records what it would do, runs nothing');
    await radio('auto').setValue(true);
    await flushPromises();
    expect(writes(calls).map((c) => JSON.parse(c.body!))).toEqual([{ mode: 'auto' }]);
    expect((radio('auto').element as HTMLInputElement).checked).toBe(true);
    await radio('off').setValue(true);
    await flushPromises();
    expect(w.find('[data-testid=agent-error]').text()).toBe('mode: not now');
    // Refused: the radios show the mode in effect again.
    expect((radio('auto').element as HTMLInputElement).checked).toBe(true);
    expect((radio('off').element as HTMLInputElement).checked).toBe(false);
    w.unmount();
  });
});
