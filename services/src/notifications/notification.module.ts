import { type DynamicModule, Module } from '@nestjs/common';
import type { Config } from '../config/config';
import type { Logger } from '../core/logger';
import { NotificationService } from './notification.service';

/** Provides one NotificationService (its channels from config) to a role's module tree; closed with the app. */
@Module({})
export class NotificationModule {
  static forRoot(config: Config, log: Logger): DynamicModule {
    return {
      module: NotificationModule,
      global: true,
      providers: [{ provide: NotificationService, useFactory: () => NotificationService.fromConfig(config, log.child({ component: 'notifications' })) }],
      exports: [NotificationService],
    };
  }
}
