-- PostgreSQL keys route_decisions by (tenant_id, sip_call_id) here and
-- drops its id column and its foreign key to tenants (see its 00006).
-- SQLite, the single-process development store, keeps the table as it is:
-- changing a key there means rebuilding the table, nothing writes to it at
-- call rate, and the unique index of 00005 already keys it by the call.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
