// The Incidents page in Debian Chromium against the REAL appliance (api + scheduler, whose
// leader runs the on-call agent, + worker; e2e/support/platform.ts) with the agent in auto mode
// and the repository's runbooks: an Alertmanager v4 webhook opens an incident, the page shows
// it live, and a human approves the runbook step that waits for approval.
import { test, expect } from '@playwright/test';
import { type AppServer, startAppServer } from '../support/app-server';
import { REPO_DIR } from '../support/paths';
import { type Platform, platformMissing, startPlatform } from '../support/platform';
import { screenshot } from '../support/screens';

const missing = platformMissing();
const KEY = 'e2e-admin-key';
const HOSTILE = '<img src=x onerror="window.pwned=1">disk almost full';

test.describe.serial(missing ? `real api incidents (NOT RUN: ${missing})` : 'real api incidents', () => {
  test.skip(!!missing, missing ?? '');
  let platform: Platform;
  let app: AppServer;

  test.beforeAll(async () => {
    test.setTimeout(120_000);
    platform = await startPlatform({ env: { AUTH_API_KEY: KEY, AGENT_MODE: 'auto', RUNBOOKS_DIR: `${REPO_DIR}/runbooks`, AGENT_TICK_MS: '300' } });
    app = await startAppServer({ api: platform.apiOrigin });
  });

  test.afterAll(async () => {
    await app?.close();
    await platform?.stop();
  });

  test.afterEach(async ({}, info) => {
    if (info.status !== info.expectedStatus) await info.attach('platform logs', { body: platform?.logs() ?? '', contentType: 'text/plain' });
  });

  const alert = (status: 'firing' | 'resolved') => ({
    version: '4',
    status,
    alerts: [
      {
        status,
        labels: { alertname: 'PodbrainDiskLow', path: '/data', role: 'worker', severity: 'P1' },
        annotations: { runbook: 'disk-low', summary: HOSTILE },
        startsAt: new Date().toISOString(),
        fingerprint: 'e2e-disk-low',
      },
    ],
  });
  const postAlert = async (status: 'firing' | 'resolved') => {
    const res = await fetch(`${platform.apiOrigin}/api/admin/alerts`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(alert(status)),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    return (await res.json()) as { opened: number; resolved: number };
  };

  test('real api: an alert opens an incident the open page shows live; approving its waiting step runs it; the kill switch asks first', async ({ page }) => {
    test.setTimeout(120_000);
    await page.goto(`${app.origin}/incidents`);
    // The admin key is needed: the page asks for it.
    await expect(page.getByRole('alert')).toContainText('need the admin API key');
    await page.getByLabel(/Key for a server started with AUTH_API_KEY/).fill(KEY);
    await page.getByRole('button', { name: 'Save key' }).click();
    await expect(page.getByText(/^No incidents\./)).toBeVisible();
    await expect(page.getByRole('radio', { name: /Auto/ })).toBeChecked();

    // Alertmanager's webhook, while the page is open: the incident appears without a reload.
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 1));
    expect((await postAlert('firing')).opened).toBe(1);
    const row = page.getByTestId('incident-list').getByRole('listitem').filter({ hasText: 'PodbrainDiskLow' }).first();
    await expect(row).toBeVisible({ timeout: 15_000 });
    await expect(row).toContainText('path=/data');
    await expect(row).toContainText('runbook disk-low');
    await expect(row.getByTestId('status')).toHaveText('open');
    expect(await page.evaluate(() => (window as unknown as { marker?: number }).marker)).toBe(1);
    await expect(page.getByTestId('incident-count')).toHaveText('1');

    await row.getByRole('link', { name: 'PodbrainDiskLow' }).click();
    await expect(page).toHaveURL(/\/incidents\/\d+$/);
    const incidentUrl = page.url();
    await expect(page.getByRole('heading', { level: 1 })).toContainText('PodbrainDiskLow');
    await expect(page.getByText(HOSTILE)).toBeVisible(); // the annotation, as text
    // The agent (auto mode) diagnoses, then the runbook's approve step waits for a human.
    const step = page.getByTestId('action').filter({ hasText: 'clean-audio' });
    await expect(step.getByTestId('status')).toHaveText('awaiting approval', { timeout: 30_000 });
    await expect(page.getByTestId('timeline').locator('details').first()).toBeVisible();
    await screenshot(page, 'real-incident-awaiting-light');

    // The notification's deep link opens the incident directly on a full page load.
    await page.goto(incidentUrl);
    await expect(step.getByTestId('status')).toHaveText('awaiting approval');
    await step.getByRole('button', { name: /^Approve clean-audio/ }).click();
    await step.getByRole('button', { name: 'Yes, run it' }).click();
    await expect(step.getByTestId('status')).toHaveText(/approved|executed/);
    await expect(step).toContainText('by ');
    // The agent runs it on its own time; the page learns it over SSE / its poll.
    await expect(step.getByTestId('status')).toHaveText('executed', { timeout: 30_000 });

    // Kill switch: nothing until confirmed.
    const toggle = page.getByRole('button', { name: /^Kill switch/ });
    await toggle.click();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await toggle.click();
    await page.getByRole('button', { name: 'Yes, stop all actions' }).click();
    await expect(toggle).toHaveAttribute('aria-pressed', 'true');
    const agent = await (await fetch(`${platform.apiOrigin}/api/admin/agent`, { headers: { authorization: `Bearer ${KEY}` } })).json();
    expect(agent).toEqual({ mode: 'auto', kill_switch: true });

    // Resolved by Alertmanager: the open page follows.
    expect((await postAlert('resolved')).resolved).toBe(1);
    await expect(page.getByRole('heading', { level: 1 }).getByTestId('status')).toHaveText('resolved', { timeout: 15_000 });
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();

    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.goto(incidentUrl);
      await expect(page.getByTestId('timeline')).toBeVisible();
      await screenshot(page, `real-incident-${scheme}`);
      await page.goto(`${app.origin}/incidents`);
      await expect(page.getByTestId('incident-list')).toBeVisible();
      await screenshot(page, `real-incidents-${scheme}`);
    }
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [name, p] of [['incidents', '/incidents'], ['incident', new URL(incidentUrl).pathname]]) {
      await page.goto(`${app.origin}${p}`);
      await expect(page.getByTestId('agent-controls')).toBeVisible();
      expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name} is wider than the phone`).toBeLessThanOrEqual(390);
      await screenshot(page, `real-${name}-phone`);
    }
  });
});
