-- App-level webhooks (HubSpot posts every portal's events to one URL) name
-- the CRM's account id, not ours: find the accounts by connector and
-- external id, whatever their tenant.

-- +goose Up
CREATE INDEX crm_accounts_by_external ON crm_accounts (connector, external_id);

-- +goose Down
DROP INDEX crm_accounts_by_external;
