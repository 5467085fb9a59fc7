-- A per-account secret that CRM webhooks are checked against (Bitrix24's
-- application_token, issue 9), sealed like token_enc: AES-GCM with the
-- CRMSYNC_SECRET_KEY, bound to the row. NULL: none received yet.

-- +goose Up
ALTER TABLE crm_accounts ADD COLUMN webhook_secret_enc BLOB;
