import { Injectable } from '@nestjs/common';
import { Database } from '../db/database';

/** digests: the stored digests of each tenant (digest/). */
@Injectable()
export class DigestRepository {
  constructor(private readonly database: Database) {}
}
