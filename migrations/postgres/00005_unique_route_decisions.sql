-- One routing decision per (tenant, SIP Call-ID), enforced by the index so
-- that recording a batch is one INSERT … ON CONFLICT DO NOTHING instead of
-- a look-up of every Call-ID first (which kept PostgreSQL at a full core
-- under 20k calls/s, bench/router). The first decision recorded wins, as
-- before; any duplicates an older version let through are dropped.

-- +goose Up
DELETE FROM route_decisions WHERE id NOT IN (
    SELECT MIN(id) FROM route_decisions GROUP BY tenant_id, sip_call_id);
DROP INDEX route_decisions_call;
CREATE UNIQUE INDEX route_decisions_call ON route_decisions (tenant_id, sip_call_id);

-- +goose Down
DROP INDEX route_decisions_call;
CREATE INDEX route_decisions_call ON route_decisions (tenant_id, sip_call_id);
