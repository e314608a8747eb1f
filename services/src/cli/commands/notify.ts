import type { Command } from 'commander';
import { createLogger } from '../../core/logger';
import { viewerLink } from '../../notifications/notification';
import { NotificationService } from '../../notifications/notification.service';
import { configFrom } from '../context';

export function registerNotifyCommands(program: Command): void {
  const notify = program.command('notify').description('podbrain’s own notifications (ntfy, webhook, e-mail)');
  notify
    .command('test')
    .description('send a test notification to every configured channel; exit 1 if any failed')
    .action(async (_opts: unknown, cmd: Command) => {
      const config = configFrom(cmd);
      // Failures are printed below; the log line (secrets redacted) goes to stderr for the record.
      const log = createLogger({ service: 'podbrain-cli', level: 'error', destination: process.stderr });
      const service = NotificationService.fromConfig(config, log);
      if (service.channelNames.length === 0) {
        process.stdout.write('no notification channel configured (set NOTIFY_NTFY_URL, NOTIFY_WEBHOOK_URL or SMTP_HOST; see deploy/.env.example)\n');
        process.exitCode = 1;
        return;
      }
      const link = viewerLink(config.notify.publicUrl, '/');
      const result = await service.notify({
        kind: 'digest',
        key: `notify-test-${Date.now()}`,
        severity: 'info',
        title: 'podbrain test notification',
        body: `This is a test from \`podbrain notify test\`: this channel works.${link ? '' : ' (PUBLIC_URL is not set: notifications carry no viewer links.)'}`,
        link,
      });
      await service.close();
      for (const c of result.channels) {
        process.stdout.write(c.ok ? `✓ ${c.channel.padEnd(8)} ok (${c.ms} ms)\n` : `✗ ${c.channel.padEnd(8)} ${c.error}\n`);
      }
      process.exitCode = result.channels.every((c) => c.ok) ? 0 : 1;
    });
}
