import { Injectable } from '@nestjs/common';
import { Database } from '../db/database';

/** refeed_tokens: the secret-token URLs of the private re-feeds (refeed/). */
@Injectable()
export class RefeedRepository {
  constructor(private readonly database: Database) {}
}
