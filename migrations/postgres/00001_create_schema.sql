-- The whole mission's schema: the PBX directory, CRM accounts and their users,
-- the employee <-> CRM-user links, calls with their event outbox, routing
-- decisions, sync runs and the audit log. Every table but tenants carries
-- tenant_id, and every query filters on it.

-- +goose Up
CREATE TABLE tenants (
    id                    BIGSERIAL PRIMARY KEY,
    name                  TEXT NOT NULL,
    prefix                TEXT NOT NULL,               -- login prefix, e.g. 19079 in 19079_ivan
    region                TEXT NOT NULL DEFAULT 'US',  -- default phone region (ISO 3166 alpha-2)
    timezone              TEXT NOT NULL DEFAULT 'UTC', -- IANA zone for schedules
    api_key_hash          TEXT NOT NULL UNIQUE,        -- SHA-256 of the API key, hex
    signing_secret_enc    BYTEA NOT NULL,              -- HMAC key for /api/v1/events, AES-GCM sealed
    route_order           TEXT NOT NULL DEFAULT 'lead,deal,contact',
    route_deadline_ms     INTEGER NOT NULL DEFAULT 1500,
    route_fallback        TEXT NOT NULL DEFAULT 'not_found', -- not_found (404) | unavailable (480)
    unknown_caller_action TEXT NOT NULL DEFAULT 'none',      -- none | lead | contact
    missed_call_task      BOOLEAN NOT NULL DEFAULT TRUE,
    notify_responsible    BOOLEAN NOT NULL DEFAULT TRUE,
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX tenants_prefix ON tenants (prefix);

CREATE TABLE departments (
    id         BIGSERIAL PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    name_key   TEXT NOT NULL, -- normalised name, unique per tenant
    extension  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX departments_name ON departments (tenant_id, name_key);

CREATE TABLE employees (
    id                  BIGSERIAL PRIMARY KEY,
    tenant_id           BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email               TEXT NOT NULL, -- normalised (lowercase); never changes
    full_name           TEXT NOT NULL,
    name_key            TEXT NOT NULL, -- normalised full name, unique per tenant
    login               TEXT NOT NULL,
    password_hash       TEXT NOT NULL DEFAULT '',
    position            TEXT NOT NULL DEFAULT '',
    role                TEXT NOT NULL DEFAULT 'user',
    extension           TEXT NOT NULL,
    department_id       BIGINT REFERENCES departments (id) ON DELETE SET NULL,
    mobile              TEXT NOT NULL DEFAULT '',
    devices             TEXT NOT NULL DEFAULT 'all', -- sip | mobile | all
    mobile_delay_s      INTEGER NOT NULL DEFAULT 0,
    no_answer_timeout_s INTEGER NOT NULL DEFAULT 30,
    no_answer_action    TEXT NOT NULL DEFAULT 'drop', -- drop | employee | department | voicemail
    no_answer_target_id BIGINT,
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    sip_status          TEXT NOT NULL DEFAULT 'not_created', -- not_created | offline | online
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    deleted_at          TIMESTAMPTZ -- set on delete; calls keep pointing at the row
);
CREATE UNIQUE INDEX employees_email ON employees (tenant_id, email) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX employees_name ON employees (tenant_id, name_key) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX employees_login ON employees (login) WHERE deleted_at IS NULL;

-- Extensions are unique per tenant across employees and departments, so they
-- live in one table whose primary key enforces it.
CREATE TABLE extensions (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    extension  TEXT NOT NULL,
    owner_kind TEXT NOT NULL, -- employee | department
    owner_id   BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, extension)
);
CREATE UNIQUE INDEX extensions_owner ON extensions (owner_kind, owner_id);

CREATE TABLE employee_contacts (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    employee_id BIGINT NOT NULL REFERENCES employees (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL, -- main (forwarded to, in order) | other (recognition only)
    kind        TEXT NOT NULL, -- phone (E.164) | sip (URI)
    value       TEXT NOT NULL,
    position    INTEGER NOT NULL
);
CREATE INDEX employee_contacts_employee ON employee_contacts (employee_id, purpose, position);
CREATE INDEX employee_contacts_value ON employee_contacts (tenant_id, value);

CREATE TABLE schedule_slots (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    employee_id BIGINT NOT NULL REFERENCES employees (id) ON DELETE CASCADE,
    weekday     INTEGER NOT NULL, -- 0 = Sunday, as time.Weekday
    start_min   INTEGER NOT NULL, -- minutes since local midnight
    end_min     INTEGER NOT NULL
);
CREATE INDEX schedule_slots_employee ON schedule_slots (employee_id);

CREATE TABLE absences (
    id            BIGSERIAL PRIMARY KEY,
    tenant_id     BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    employee_id   BIGINT NOT NULL REFERENCES employees (id) ON DELETE CASCADE,
    kind          TEXT NOT NULL, -- vacation | sick_leave | other
    starts_at     TIMESTAMPTZ NOT NULL,
    ends_at       TIMESTAMPTZ NOT NULL,
    redirect_kind TEXT NOT NULL DEFAULT '', -- '' | employee | department
    redirect_id   BIGINT
);
CREATE INDEX absences_employee ON absences (employee_id, ends_at);

CREATE TABLE phone_numbers (
    id         BIGSERIAL PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    number     TEXT NOT NULL UNIQUE, -- E.164; a DID belongs to one tenant
    label      TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX phone_numbers_tenant ON phone_numbers (tenant_id);

CREATE TABLE crm_accounts (
    id              BIGSERIAL PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    connector       TEXT NOT NULL, -- registry name, e.g. hubspot
    name            TEXT NOT NULL DEFAULT '',
    external_id     TEXT NOT NULL DEFAULT '', -- hub id, amo account id, member_id, company id
    base_url        TEXT NOT NULL DEFAULT '',
    token_enc       BYTEA, -- AES-GCM sealed OAuth token (JSON)
    token_expiry    TIMESTAMPTZ,
    status          TEXT NOT NULL DEFAULT 'connected', -- connected | needs_relink | disconnected
    status_reason   TEXT NOT NULL DEFAULT '',
    sync_interval_s INTEGER NOT NULL DEFAULT 900,
    provision       BOOLEAN NOT NULL DEFAULT FALSE, -- create employees for unmatched CRM users
    last_sync_at    TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX crm_accounts_external ON crm_accounts (tenant_id, connector, external_id);

CREATE TABLE crm_users (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    account_id  BIGINT NOT NULL REFERENCES crm_accounts (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name        TEXT NOT NULL DEFAULT '',
    email       TEXT NOT NULL DEFAULT '',
    phones      TEXT NOT NULL DEFAULT '[]', -- JSON array, as the CRM holds them
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    gone        BOOLEAN NOT NULL DEFAULT FALSE, -- missing from the CRM's last listing
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX crm_users_external ON crm_users (account_id, external_id);

CREATE TABLE employee_links (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    account_id  BIGINT NOT NULL REFERENCES crm_accounts (id) ON DELETE CASCADE,
    crm_user_id BIGINT NOT NULL REFERENCES crm_users (id) ON DELETE CASCADE,
    employee_id BIGINT REFERENCES employees (id), -- NULL: an admin said "no employee"
    manual      BOOLEAN NOT NULL,
    rule        TEXT NOT NULL, -- email | phone | name | manual
    confidence  DOUBLE PRECISION NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX employee_links_user ON employee_links (account_id, crm_user_id);
CREATE UNIQUE INDEX employee_links_employee ON employee_links (account_id, employee_id) WHERE employee_id IS NOT NULL;
CREATE INDEX employee_links_by_employee ON employee_links (employee_id);

CREATE TABLE calls (
    id                    BIGSERIAL PRIMARY KEY,
    tenant_id             BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    call_id               TEXT NOT NULL, -- the PBX's id (the SIP Call-ID for routed calls)
    direction             TEXT NOT NULL DEFAULT 'inbound',
    caller                TEXT NOT NULL DEFAULT '', -- E.164
    callee                TEXT NOT NULL DEFAULT '', -- E.164 (the DID for inbound calls)
    started_at            TIMESTAMPTZ,
    answered_at           TIMESTAMPTZ,
    ended_at              TIMESTAMPTZ,
    duration_s            INTEGER NOT NULL DEFAULT 0,
    answered              BOOLEAN NOT NULL DEFAULT FALSE,
    answered_by_id        BIGINT REFERENCES employees (id),
    recording_url         TEXT NOT NULL DEFAULT '',
    category              TEXT NOT NULL DEFAULT '',
    value                 TEXT NOT NULL DEFAULT '',
    comment               TEXT NOT NULL DEFAULT '',
    account_id            BIGINT REFERENCES crm_accounts (id) ON DELETE SET NULL,
    entity_kind           TEXT NOT NULL DEFAULT '',
    entity_id             TEXT NOT NULL DEFAULT '',
    responsible_crm_user  TEXT NOT NULL DEFAULT '',
    crm_ref               TEXT NOT NULL DEFAULT '', -- JSON connectors.CallRef of the CRM record
    created_at            TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX calls_call_id ON calls (tenant_id, call_id);
CREATE INDEX calls_recent ON calls (tenant_id, created_at);

-- The outbox: every event that must reach a CRM, written in the same
-- transaction as its call and delivered by the worker.
CREATE TABLE call_events (
    id              BIGSERIAL PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    call_row_id     BIGINT NOT NULL REFERENCES calls (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL, -- call.started | call.answered | call.finished | call.tagged | call.commented
    seq             INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    payload         TEXT NOT NULL, -- JSON, as received and validated
    status          TEXT NOT NULL DEFAULT 'pending', -- pending | delivered | failed | parked
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    crm_ref         TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ
);
CREATE UNIQUE INDEX call_events_idempotency ON call_events (tenant_id, idempotency_key);
CREATE INDEX call_events_pending ON call_events (status, created_at);
CREATE INDEX call_events_call ON call_events (call_row_id, seq);

CREATE TABLE route_decisions (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    sip_call_id TEXT NOT NULL,
    caller      TEXT NOT NULL,
    did         TEXT NOT NULL,
    account_id  BIGINT,
    entity_kind TEXT NOT NULL DEFAULT '',
    entity_id   TEXT NOT NULL DEFAULT '',
    crm_user_id TEXT NOT NULL DEFAULT '',
    employee_id BIGINT,
    outcome     TEXT NOT NULL, -- routed | fallback | redirect | rejected
    reason      TEXT NOT NULL,
    latency_us  BIGINT NOT NULL,
    cache       TEXT NOT NULL, -- local | redis | miss
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX route_decisions_call ON route_decisions (tenant_id, sip_call_id);

CREATE TABLE sync_runs (
    id          BIGSERIAL PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    account_id  BIGINT NOT NULL REFERENCES crm_accounts (id) ON DELETE CASCADE,
    status      TEXT NOT NULL, -- running | succeeded | failed
    report      TEXT NOT NULL DEFAULT '{}', -- JSON sync report
    error       TEXT NOT NULL DEFAULT '',
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX sync_runs_account ON sync_runs (account_id, started_at);

CREATE TABLE audit_log (
    id           BIGSERIAL PRIMARY KEY,
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    actor        TEXT NOT NULL, -- api | sync | admin:<employee id> | system
    action       TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    subject_id   TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '{}', -- JSON
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, created_at);
