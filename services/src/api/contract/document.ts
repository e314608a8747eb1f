import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { OpenAPIObject } from '@nestjs/swagger';
import { ApiModule } from '../api.module';
import { API_PREFIX, apiDocument } from './openapi';

/**
 * The OpenAPI document without a running api: the api module in Nest's preview mode (routes,
 * decorators and the provider graph are read; no provider or controller is built, nothing
 * connects to Postgres or Redis).
 */
export async function offlineApiDocument(): Promise<OpenAPIObject> {
  // forRoot only places its dependencies as provider values, which preview mode never reads:
  // every one is an empty array (an object, and a list where a list is expected).
  const deps = new Proxy({}, { get: () => [] }) as Parameters<typeof ApiModule.forRoot>[0];
  const app = await NestFactory.create(ApiModule.forRoot(deps), { preview: true, logger: false, abortOnError: false });
  try {
    app.setGlobalPrefix(API_PREFIX.prefix, { exclude: [...API_PREFIX.exclude] });
    return apiDocument(app, '0.1.0');
  } finally {
    await app.close();
  }
}
