import { Injectable } from '@nestjs/common';
import { PlaybackRepository } from '../../repositories/playback.repository';
import type { PlaybackListView, PlaybackMarkResultView, PlaybackView } from '../contract/playback';
import { notFound } from '../errors';

/** The listener's playback state (issue 18), per tenant: resume where it was left, played / unplayed. */
@Injectable()
export class PlaybackService {
  constructor(private readonly playback: PlaybackRepository) {}

  async read(tenantId: string, key: string): Promise<PlaybackView> {
    const p = await this.playback.read(tenantId, key);
    if (!p) throw notFound(`episode ${key}`);
    return p;
  }

  async list(tenantId: string, p: { filter: 'in_progress' | 'played' | 'all'; limit: number }): Promise<PlaybackListView> {
    return { items: await this.playback.list(tenantId, p) };
  }

  /** One upsert, whatever the state was: the player calls it every few seconds. */
  async save(tenantId: string, key: string, body: { position_ms: number; duration_ms?: number; played?: boolean }): Promise<PlaybackView> {
    const p = await this.playback.save(tenantId, key, { positionMs: body.position_ms, durationMs: body.duration_ms, played: body.played });
    if (!p) throw notFound(`episode ${key}`);
    return p;
  }

  /** 404 only when none of the keys is the caller's episode; otherwise the ones that are not are named. */
  async mark(tenantId: string, keys: string[], played: boolean): Promise<PlaybackMarkResultView> {
    const written = new Set(await this.playback.mark(tenantId, keys, played));
    const notFoundKeys = [...new Set(keys)].filter((k) => !written.has(k));
    if (!written.size) throw notFound(notFoundKeys.length === 1 ? `episode ${notFoundKeys[0]}` : `none of the ${notFoundKeys.length} episodes was`);
    return { played, updated: written.size, not_found: notFoundKeys };
  }
}
