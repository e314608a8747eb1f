import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The on-call agent's record (issue 14, agent/): one incident per firing alert fingerprint (at most
 * one open or escalated at a time), its timeline (incident_events) and the runbook steps the agent
 * decided on (incident_actions: proposed in shadow mode, executed, skipped, waiting for approval…).
 */
export class Incidents1764374400000 implements MigrationInterface {
  name = 'Incidents1764374400000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE incidents (
      id bigserial PRIMARY KEY,
      fingerprint text NOT NULL,
      alertname text NOT NULL,
      labels jsonb NOT NULL DEFAULT '{}'::jsonb,
      annotations jsonb NOT NULL DEFAULT '{}'::jsonb,
      runbook text,
      status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'escalated')),
      mode text NOT NULL,
      summary text,
      plan jsonb,
      diagnosed_at timestamptz,
      notified_status text,
      opened_at timestamptz NOT NULL DEFAULT now(),
      resolved_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE UNIQUE INDEX incidents_one_live_per_fingerprint ON incidents (fingerprint) WHERE status IN ('open', 'escalated')`);
    await q.query(`CREATE INDEX incidents_status ON incidents (status, id)`);
    await q.query(`CREATE TABLE incident_events (
      id bigserial PRIMARY KEY,
      incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
      at timestamptz NOT NULL DEFAULT now(),
      kind text NOT NULL,
      message text NOT NULL,
      data jsonb NOT NULL DEFAULT '{}'::jsonb
    )`);
    await q.query(`CREATE INDEX incident_events_incident ON incident_events (incident_id, id)`);
    await q.query(`CREATE TABLE incident_actions (
      incident_id bigint NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
      n integer NOT NULL,
      step_id text NOT NULL,
      action text,
      args jsonb NOT NULL DEFAULT '{}'::jsonb,
      mode text NOT NULL,
      status text NOT NULL CHECK (status IN ('proposed', 'executed', 'skipped', 'awaiting_approval', 'approved', 'denied', 'failed')),
      detail text,
      decided_by text,
      runbook text,
      executed_at timestamptz,
      verify_by timestamptz,
      verified text,
      at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (incident_id, n),
      UNIQUE (incident_id, step_id)
    )`);
    // max_per_hour counts the executed runs of one runbook step across incidents.
    await q.query(`CREATE INDEX incident_actions_executed ON incident_actions (runbook, step_id, executed_at) WHERE status = 'executed'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE incident_actions`);
    await q.query(`DROP TABLE incident_events`);
    await q.query(`DROP TABLE incidents`);
  }
}
