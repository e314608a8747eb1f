import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CLIENT_TYPES_FILE, clientTypes } from '../src/api/contract/client-types';
import { offlineApiDocument } from '../src/api/contract/document';
import { components } from '../src/api/contract/responses';
import { apiConfig, call, startApi } from './api-support';

/**
 * The contract has one source (services/src/api/contract): the OpenAPI document is built from its
 * zod schemas and the viewer's types (web/src/api/schema.d.ts) are generated from that document.
 */
describe('api contract', () => {
  it('web/src/api/schema.d.ts is what `npm run gen:api` generates from the current schemas (fails while stale: run it)', async () => {
    const want = await clientTypes(await offlineApiDocument());
    const have = await readFile(CLIENT_TYPES_FILE, 'utf8').catch(() => '(missing)');
    expect(have === want, `${CLIENT_TYPES_FILE} is stale: run npm run gen:api`).toBe(true);
  });

  it('the offline document (what gen:api reads) is the one the api serves at /api/docs/json', async () => {
    // No database needed: the api starts while Postgres is unreachable and serves its document.
    const api = await startApi(apiConfig('postgres://127.0.0.1:1/podbrain_contract'));
    try {
      const served = (await call(api.base, 'GET', '/api/docs/json')).body;
      const offline = await offlineApiDocument();
      expect({ ...served, info: { ...served.info, version: 'x' } }).toEqual(JSON.parse(JSON.stringify({ ...offline, info: { ...offline.info, version: 'x' } })));
    } finally {
      await api.close();
    }
  });

  it('the document names every contract type and types the routes the viewer calls', async () => {
    const doc = await offlineApiDocument();
    expect(Object.keys(doc.components?.schemas ?? {})).toEqual(expect.arrayContaining(Object.keys(components)));
    const ok = (path: string, method: 'get' | 'post', status = '200') =>
      (doc.paths[path]?.[method]?.responses?.[status] as { content?: Record<string, { schema?: { properties?: object } }> } | undefined)?.content?.['application/json']?.schema?.properties;
    expect(Object.keys(ok('/api/episodes', 'get') ?? {})).toEqual(['items', 'next_cursor']);
    expect(Object.keys(ok('/api/search', 'get') ?? {})).toEqual(['query', 'took_ms', 'vector', 'note', 'hits']);
    expect(ok('/api/feeds', 'post', '202')).toBeTruthy();
    for (const p of ['/api/episodes/{key}', '/api/episodes/{key}/transcript', '/api/episodes/{key}/summary', '/api/episodes/{key}/insights', '/api/graph', '/api/health', '/api/admin/queues', '/api/admin/failures']) {
      expect(ok(p, 'get'), p).toBeTruthy();
    }
  });
});
