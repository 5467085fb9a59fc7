package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// Account is a linked CRM account of a tenant.
type Account struct {
	ID           int64      `json:"id"`
	TenantID     int64      `json:"tenant_id"`
	Connector    string     `json:"connector"`
	Name         string     `json:"name"`
	ExternalID   string     `json:"external_id"`
	BaseURL      string     `json:"base_url"`
	Status       string     `json:"status"`
	StatusReason string     `json:"status_reason,omitempty"`
	SyncInterval Seconds    `json:"sync_interval_s"` // 0: the worker's default (CRMSYNC_SYNC_INTERVAL)
	Provision    bool       `json:"provision"`
	LastSyncAt   *time.Time `json:"last_sync_at,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

// Seconds is a duration that travels as whole seconds.
type Seconds int64

// Duration converts s to a time.Duration.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

type accountRow struct {
	ID           int64      `db:"id"`
	TenantID     int64      `db:"tenant_id"`
	Connector    string     `db:"connector"`
	Name         string     `db:"name"`
	ExternalID   string     `db:"external_id"`
	BaseURL      string     `db:"base_url"`
	Status       string     `db:"status"`
	StatusReason string     `db:"status_reason"`
	SyncInterval int64      `db:"sync_interval_s"`
	Provision    bool       `db:"provision"`
	LastSyncAt   *time.Time `db:"last_sync_at"`
	CreatedAt    time.Time  `db:"created_at"`
}

const accountColumns = `id, tenant_id, connector, name, external_id, base_url, status, status_reason,
	sync_interval_s, provision, last_sync_at, created_at`

func (r accountRow) account() Account {
	a := Account{
		ID: r.ID, TenantID: r.TenantID, Connector: r.Connector, Name: r.Name, ExternalID: r.ExternalID,
		BaseURL: r.BaseURL, Status: r.Status, StatusReason: r.StatusReason,
		SyncInterval: Seconds(r.SyncInterval), Provision: r.Provision, CreatedAt: r.CreatedAt.UTC(),
	}
	if r.LastSyncAt != nil {
		t := r.LastSyncAt.UTC()
		a.LastSyncAt = &t
	}
	return a
}

// LinkAccount is what linking a CRM account through OAuth produces.
type LinkAccount struct {
	Connector  string
	Name       string
	ExternalID string // the CRM's id for the account (hub id, amo account id, …)
	BaseURL    string
	Token      *oauth2.Token
	// WebhookSecret is what the CRM's webhooks are checked against (e.g.
	// Bitrix24's application_token), when the link itself yields one.
	// Stored sealed, never returned by Account or Accounts; empty keeps
	// the account's current secret on a relink.
	WebhookSecret string
}

// LinkAccount stores a newly linked account, or relinks an existing one
// (same tenant, connector and external id): the token is replaced and the
// status set back to connected.
func (db *DB) LinkAccount(ctx context.Context, tenantID int64, in LinkAccount) (Account, error) {
	if _, err := connectors.Lookup(in.Connector); err != nil {
		return Account{}, telephony.Errorf(telephony.EInvalid, "connector", "unknown connector %q", in.Connector)
	}
	if in.Token == nil || in.Token.AccessToken == "" {
		return Account{}, telephony.Errorf(telephony.EInvalid, "token", "an access token is required")
	}
	var id int64
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		now := db.Now()
		err := tx.GetContext(ctx, &id, tx.Rebind(`SELECT id FROM crm_accounts
			WHERE tenant_id = ? AND connector = ? AND external_id = ?`), tenantID, in.Connector, in.ExternalID)
		switch formatError(err) {
		case nil:
			_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE crm_accounts SET name = ?, base_url = ?, status = ?,
				status_reason = '', updated_at = ? WHERE id = ?`), in.Name, in.BaseURL, connectors.StatusConnected, now, id)
			if err != nil {
				return formatError(err)
			}
		case ErrNotFound:
			// sync_interval_s 0: the worker's CRMSYNC_SYNC_INTERVAL applies
			// until an admin sets one for this account.
			id, err = insertID(ctx, tx, `INSERT INTO crm_accounts
				(tenant_id, connector, name, external_id, base_url, status, sync_interval_s, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`,
				tenantID, in.Connector, in.Name, in.ExternalID, in.BaseURL, connectors.StatusConnected, now, now)
			if err != nil {
				return err
			}
		default:
			return formatError(err)
		}
		if err := db.saveToken(ctx, tx, id, in.Token); err != nil {
			return err
		}
		if in.WebhookSecret != "" {
			if _, err := db.saveWebhookSecret(ctx, tx, id, in.WebhookSecret, false); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, tenantID, "admin", "account.linked", "crm_account", fmt.Sprint(id), "")
	})
	if err != nil {
		return Account{}, fmt.Errorf("link %s account: %w", in.Connector, err)
	}
	return db.Account(ctx, tenantID, id)
}

// Account returns one of the tenant's accounts.
func (db *DB) Account(ctx context.Context, tenantID, id int64) (Account, error) {
	var r accountRow
	err := db.db.GetContext(ctx, &r, db.q(`SELECT `+accountColumns+` FROM crm_accounts WHERE tenant_id = ? AND id = ?`), tenantID, id)
	if err = formatError(err); err == ErrNotFound {
		return Account{}, notFound("CRM account %d not found", id)
	}
	return r.account(), err
}

// Accounts lists the tenant's accounts, oldest first.
func (db *DB) Accounts(ctx context.Context, tenantID int64) ([]Account, error) {
	var rows []accountRow
	err := db.db.SelectContext(ctx, &rows, db.q(`SELECT `+accountColumns+` FROM crm_accounts WHERE tenant_id = ? ORDER BY id`), tenantID)
	if err != nil {
		return nil, formatError(err)
	}
	out := make([]Account, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}

// FindAccount returns the account with id for the connector resolver, its
// webhook secret decrypted. It is not tenant scoped: the worker reaches
// accounts by the ids in its tasks, which only tenant-scoped code wrote.
func (db *DB) FindAccount(ctx context.Context, id int64) (connectors.Account, error) {
	var r struct {
		accountRow
		WebhookSecret []byte `db:"webhook_secret_enc"`
	}
	err := db.db.GetContext(ctx, &r, db.q(`SELECT `+accountColumns+`, webhook_secret_enc FROM crm_accounts WHERE id = ?`), id)
	if err = formatError(err); err == ErrNotFound {
		return connectors.Account{}, fmt.Errorf("CRM account %d: %w", id, connectors.ErrNotFound)
	} else if err != nil {
		return connectors.Account{}, err
	}
	a := connectors.Account{ID: r.ID, Connector: r.Connector, BaseURL: r.BaseURL, Status: r.Status, ExternalID: r.ExternalID}
	if len(r.WebhookSecret) > 0 {
		pt, err := db.sealer.Open(r.WebhookSecret, webhookSecretAAD(id))
		if err != nil {
			return connectors.Account{}, err
		}
		a.WebhookSecret = string(pt)
	}
	return a, nil
}

func webhookSecretAAD(accountID int64) string {
	return fmt.Sprintf("crm_accounts:%d:webhook_secret", accountID)
}

// ClaimWebhookSecret stores secret, sealed, as the account's webhook secret
// if it has none yet (trust on first use: the secret a CRM hands over at
// install time), and reports whether it did. An account that already has
// one keeps it. An empty secret is EInvalid; an unknown account ENotFound.
func (db *DB) ClaimWebhookSecret(ctx context.Context, accountID int64, secret string) (bool, error) {
	if secret == "" {
		return false, telephony.Errorf(telephony.EInvalid, "webhook_secret", "the webhook secret must not be empty")
	}
	var stored bool
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		var tenantID int64
		err := tx.GetContext(ctx, &tenantID, tx.Rebind(`SELECT tenant_id FROM crm_accounts WHERE id = ?`), accountID)
		if err = formatError(err); err == ErrNotFound {
			return notFound("CRM account %d not found", accountID)
		} else if err != nil {
			return err
		}
		if stored, err = db.saveWebhookSecret(ctx, tx, accountID, secret, true); err != nil || !stored {
			return err
		}
		return audit(ctx, tx, db.Now(), tenantID, "system", "account.webhook_secret_set", "crm_account", fmt.Sprint(accountID), "")
	})
	if err != nil {
		return false, fmt.Errorf("claim webhook secret of CRM account %d: %w", accountID, err)
	}
	return stored, nil
}

// saveWebhookSecret seals and stores secret; onlyIfUnset leaves a stored
// one alone. It reports whether it wrote.
func (db *DB) saveWebhookSecret(ctx context.Context, ext sqlx.ExtContext, accountID int64, secret string, onlyIfUnset bool) (bool, error) {
	q := `UPDATE crm_accounts SET webhook_secret_enc = ?, updated_at = ? WHERE id = ?`
	if onlyIfUnset {
		q += ` AND webhook_secret_enc IS NULL`
	}
	res, err := ext.ExecContext(ctx, ext.Rebind(q), db.sealer.Seal([]byte(secret), webhookSecretAAD(accountID)), db.Now(), accountID)
	if err != nil {
		return false, formatError(err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func tokenAAD(accountID int64) string { return fmt.Sprintf("crm_accounts:%d:token", accountID) }

// LoadToken returns the account's OAuth token, decrypted.
func (db *DB) LoadToken(ctx context.Context, accountID int64) (*oauth2.Token, error) {
	var sealed []byte
	err := db.db.GetContext(ctx, &sealed, db.q(`SELECT token_enc FROM crm_accounts WHERE id = ?`), accountID)
	if err = formatError(err); err == ErrNotFound || (err == nil && len(sealed) == 0) {
		return nil, fmt.Errorf("token of CRM account %d: %w", accountID, connectors.ErrNotFound)
	} else if err != nil {
		return nil, err
	}
	pt, err := db.sealer.Open(sealed, tokenAAD(accountID))
	if err != nil {
		return nil, err
	}
	var tok oauth2.Token
	if err := json.Unmarshal(pt, &tok); err != nil {
		return nil, fmt.Errorf("token of CRM account %d: %w", accountID, err)
	}
	return &tok, nil
}

// SaveToken replaces the account's token, sealed.
func (db *DB) SaveToken(ctx context.Context, accountID int64, tok *oauth2.Token) error {
	return db.saveToken(ctx, db.db, accountID, tok)
}

func (db *DB) saveToken(ctx context.Context, ext sqlx.ExtContext, accountID int64, tok *oauth2.Token) error {
	// oauth2.Token's JSON keeps the access and refresh tokens and expiry,
	// not the raw extras: what connectors need from those (Pipedrive's
	// api_domain, amoCRM's base domain) is stored as the account's base URL
	// when it is linked.
	pt, err := json.Marshal(tok)
	if err != nil {
		return err
	}
	var expiry *time.Time
	if !tok.Expiry.IsZero() {
		e := tok.Expiry.UTC()
		expiry = &e
	}
	res, err := ext.ExecContext(ctx, ext.Rebind(`UPDATE crm_accounts SET token_enc = ?, token_expiry = ?, updated_at = ? WHERE id = ?`),
		db.sealer.Seal(pt, tokenAAD(accountID)), expiry, db.Now(), accountID)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("save token of CRM account %d: %w", accountID, connectors.ErrNotFound)
	}
	return nil
}

// MarkNeedsRelink flags the account for the admin; its events stay queued.
func (db *DB) MarkNeedsRelink(ctx context.Context, accountID int64, reason string) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		var tenantID int64
		if err := tx.GetContext(ctx, &tenantID, tx.Rebind(`SELECT tenant_id FROM crm_accounts WHERE id = ?`), accountID); err != nil {
			return formatError(err)
		}
		_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE crm_accounts SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`),
			connectors.StatusNeedsRelink, reason, db.Now(), accountID)
		if err != nil {
			return formatError(err)
		}
		return audit(ctx, tx, db.Now(), tenantID, "system", "account.needs_relink", "crm_account", fmt.Sprint(accountID), jsonDetail("reason", reason))
	})
}

// jsonDetail builds a small JSON object for audit details.
func jsonDetail(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	b, _ := json.Marshal(m)
	return string(b)
}
