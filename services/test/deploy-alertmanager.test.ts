import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const ROOT = path.resolve(__dirname, '../..');
const ENTRYPOINT = path.join(ROOT, 'alertmanager/entrypoint.sh');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'podbrain-d-am-'));

type Receiver = {
  name: string;
  webhook_configs?: { url: string; send_resolved: boolean; http_config?: { authorization: { type: string; credentials_file: string } } }[];
  email_configs?: { to: string; send_resolved: boolean }[];
};
type AmConfig = {
  global: Record<string, unknown>;
  route: { receiver: string; group_by: string[]; group_wait: string; group_interval: string; repeat_interval: string; routes: { receiver: string; continue: boolean }[] };
  receivers: Receiver[];
};

let n = 0;
/** Runs the compose entrypoint in --render-only mode with exactly `env` (plus PATH), as the container does at start. */
function render(env: Record<string, string>, pathDirs = process.env.PATH!) {
  const dir = path.join(tmp, `r${n++}`);
  const r = spawnSync('sh', [ENTRYPOINT, '--render-only'], { encoding: 'utf8', env: { PATH: pathDirs, ALERTMANAGER_RENDER_DIR: dir, ...env } });
  expect(r.status, r.stderr).toBe(0);
  const file = r.stdout.trim();
  expect(file).toBe(path.join(dir, 'alertmanager.yml'));
  const check = spawnSync('amtool', ['check-config', file], { encoding: 'utf8' });
  return { dir, file, stderr: r.stderr, check, config: parseYaml(readFileSync(file, 'utf8')) as AmConfig };
}

describe('alertmanager/ (the compose service renders its config at start)', () => {
  it('default: every alert to the agent webhook with the bearer from a file, grouped, resolved sent; nothing else; amtool accepts it', () => {
    const { dir, config, check } = render({ AUTH_API_KEY: 'the-api-key' });
    expect(check.stdout + check.stderr).toContain('SUCCESS');
    expect(check.status).toBe(0);
    expect(config.route).toMatchObject({ receiver: 'podbrain-agent', group_by: ['alertname', 'role', 'queue', 'path'], group_wait: '10s', group_interval: '1m', repeat_interval: '4h' });
    expect(config.route.routes).toEqual([{ receiver: 'podbrain-agent', continue: true }]);
    expect(config.receivers).toHaveLength(1);
    const [hook] = config.receivers[0].webhook_configs!;
    expect(hook.url).toBe('http://api:8100/api/admin/alerts');
    expect(hook.send_resolved).toBe(true);
    expect(hook.http_config!.authorization).toEqual({ type: 'Bearer', credentials_file: path.join(dir, 'agent-token') });
    // the token is in a file only the process reads, not in the config
    expect(readFileSync(path.join(dir, 'agent-token'), 'utf8')).toBe('the-api-key');
    expect(statSync(path.join(dir, 'agent-token')).mode & 0o077).toBe(0);
    expect(readFileSync(path.join(dir, 'alertmanager.yml'), 'utf8')).not.toContain('the-api-key');
    expect(config.global).toEqual({ resolve_timeout: '5m' });
  });

  it('AGENT_WEBHOOK_TOKEN wins over AUTH_API_KEY; no token at all: no Authorization header', () => {
    const both = render({ AUTH_API_KEY: 'api-key', AGENT_WEBHOOK_TOKEN: 'hook-token' });
    expect(readFileSync(path.join(both.dir, 'agent-token'), 'utf8')).toBe('hook-token');
    const none = render({});
    expect(none.check.status).toBe(0);
    expect(none.config.receivers[0].webhook_configs![0].http_config).toBeUndefined();
  });

  it("the owner's webhook and e-mail (SMTP_* settings) are added with continue: true when set; quotes and backslashes in values stay values", () => {
    const { config, check } = render({
      AGENT_WEBHOOK_TOKEN: 't',
      ALERTMANAGER_WEBHOOK_URL: 'https://hooks.example.org/podbrain?x=1',
      SMTP_HOST: 'mail.example.org',
      SMTP_USER: 'me',
      SMTP_PASSWORD: 'p"a\\ss: #1',
      SMTP_FROM: 'box@example.org',
      NOTIFY_EMAIL_TO: 'me@example.org, you@example.org',
    });
    expect(check.stdout + check.stderr).toContain('SUCCESS');
    expect(config.route.routes).toEqual([
      { receiver: 'podbrain-agent', continue: true },
      { receiver: 'owner', continue: true },
    ]);
    const owner = config.receivers.find((r) => r.name === 'owner')!;
    expect(owner.webhook_configs).toEqual([{ url: 'https://hooks.example.org/podbrain?x=1', send_resolved: true }]);
    expect(owner.email_configs).toEqual([{ to: 'me@example.org, you@example.org', send_resolved: true }]);
    expect(config.global).toMatchObject({ smtp_smarthost: 'mail.example.org:587', smtp_from: 'box@example.org', smtp_require_tls: true, smtp_auth_username: 'me', smtp_auth_password: 'p"a\\ss: #1' });
    // implicit TLS on 465: no STARTTLS demanded; no login without SMTP_USER
    const tls = render({ SMTP_HOST: 'mail.example.org', SMTP_PORT: '465', SMTP_SECURITY: 'tls', NOTIFY_EMAIL_TO: 'me@example.org' });
    expect(tls.check.status).toBe(0);
    expect(tls.config.global).toEqual({ resolve_timeout: '5m', smtp_smarthost: 'mail.example.org:465', smtp_from: 'podbrain@mail.example.org', smtp_require_tls: false });
    expect(tls.config.receivers.find((r) => r.name === 'owner')!.webhook_configs).toBeUndefined();
  });

  it('NOTIFY_EMAIL_TO without SMTP_HOST sends no e-mail and says so', () => {
    const r = render({ NOTIFY_EMAIL_TO: 'me@example.org' });
    expect(r.stderr).toContain('SMTP_HOST is not');
    expect(r.config.receivers.map((x) => x.name)).toEqual(['podbrain-agent']);
    expect(r.check.status).toBe(0);
  });

  it('renders the same with mawk (Debian minbase, the stand-in image) as with the default awk', () => {
    const mawk = ['/usr/bin/mawk', '/usr/bin/busybox'].find(existsSync);
    if (!mawk) return; // nothing else to compare with on this machine
    const bin = path.join(tmp, 'awk-bin');
    mkdirSync(bin);
    symlinkSync(mawk, path.join(bin, 'awk'));
    const env = { AGENT_WEBHOOK_TOKEN: 't', ALERTMANAGER_WEBHOOK_URL: 'https://h.example.org/"q"', SMTP_HOST: 'm', NOTIFY_EMAIL_TO: 'a@b.c', SMTP_PASSWORD: 'x\\y"z', SMTP_USER: 'u' };
    const a = render(env);
    const b = render(env, `${bin}:${process.env.PATH}`);
    expect(readFileSync(b.file, 'utf8').replaceAll(b.dir, '')).toBe(readFileSync(a.file, 'utf8').replaceAll(a.dir, ''));
    expect(b.check.status).toBe(0);
  });

  it('CI installs Debian\'s prometheus-alertmanager (alertmanager + amtool) and the stand-in image is built from it', () => {
    expect(readFileSync(path.join(ROOT, '.ci/run'), 'utf8')).toMatch(/APT_PKGS=\([^)]*\bprometheus-alertmanager\b/);
    const df = readFileSync(path.join(ROOT, 'deploy/ci/images/Dockerfile'), 'utf8');
    expect(df).toMatch(/FROM \$\{BASE_IMAGE\} AS alertmanager[\s\S]*prometheus-alertmanager wget/);
  });
});
