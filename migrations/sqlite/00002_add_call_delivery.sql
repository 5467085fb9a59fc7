-- Call push-back delivery state (issue 7): which CRM target a call was
-- resolved to, and a lease that lets one worker at a time write a call to
-- its CRM (the outbox rows themselves are call_events, from 00001).

-- +goose Up
ALTER TABLE calls ADD COLUMN resolved_at DATETIME;                    -- target (account, entity, responsible) chosen
ALTER TABLE calls ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';    -- asynq task id writing the call now
ALTER TABLE calls ADD COLUMN lease_until DATETIME;                    -- the lease is void after this
CREATE INDEX calls_account ON calls (account_id);
-- The outbox's pending events by call, in call order: a drain reads the
-- next calls with something to write without touching delivered history.
CREATE INDEX call_events_pending_call ON call_events (call_row_id) WHERE status = 'pending';
