-- PostgreSQL drops route_decisions' foreign key to tenants here (see its
-- 00006). SQLite, the single-process development store, keeps it: dropping
-- a constraint there means rebuilding the table, and nothing writes to it
-- at call rate.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
