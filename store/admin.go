package store

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/mapping"
)

// AdminLogin is an employee who may try to sign in to the admin pages: who
// they are and their bcrypt password hash.
type AdminLogin struct {
	TenantID     int64
	EmployeeID   int64
	Role         string
	PasswordHash string
}

// maxAdminLogins bounds the candidates of one sign-in: an email is unique
// per tenant only, so one address may name employees of several tenants.
const maxAdminLogins = 5

// AdminLogins returns the employees, of any tenant, whose login or email is
// name (case-insensitive) and who have a password, oldest first. The caller
// checks the password against each; an empty list means nobody.
func (db *DB) AdminLogins(ctx context.Context, name string) ([]AdminLogin, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if name == "" {
		return nil, nil
	}
	email, err := mapping.NormalizeEmail(name)
	if err != nil {
		email = name
	}
	var rows []struct {
		TenantID     int64  `db:"tenant_id"`
		ID           int64  `db:"id"`
		Role         string `db:"role"`
		PasswordHash string `db:"password_hash"`
	}
	err = db.db.SelectContext(ctx, &rows, db.q(`SELECT tenant_id, id, role, password_hash FROM employees
		WHERE (login = ? OR email = ?) AND deleted_at IS NULL AND password_hash <> ''
		ORDER BY id LIMIT ?`), name, email, maxAdminLogins)
	if err != nil {
		return nil, fmt.Errorf("admin logins: %w", formatError(err))
	}
	out := make([]AdminLogin, len(rows))
	for i, r := range rows {
		out[i] = AdminLogin{TenantID: r.TenantID, EmployeeID: r.ID, Role: r.Role, PasswordHash: r.PasswordHash}
	}
	return out, nil
}

// RecentCalls returns the tenant's latest calls, newest first, at most
// limit, each with its events' delivery as CallStatus describes it.
func (db *DB) RecentCalls(ctx context.Context, tenantID int64, limit int) ([]jobs.CallStatus, error) {
	var ids []string
	err := db.db.SelectContext(ctx, &ids, db.q(`SELECT call_id FROM calls WHERE tenant_id = ?
		ORDER BY created_at DESC, id DESC LIMIT ?`), tenantID, limit)
	if err != nil {
		return nil, fmt.Errorf("recent calls: %w", formatError(err))
	}
	out := make([]jobs.CallStatus, 0, len(ids))
	for _, id := range ids {
		cs, err := db.CallStatus(ctx, tenantID, id)
		if err != nil {
			return nil, err
		}
		out = append(out, cs)
	}
	return out, nil
}

// DisconnectAccount deletes the tenant's account's tokens and marks it
// disconnected: nothing reaches the CRM until it is linked again (which
// connects the same row). Its users, links and history stay. It returns
// ENotFound for another tenant's account.
func (db *DB) DisconnectAccount(ctx context.Context, tenantID, accountID int64) error {
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		now := db.Now()
		res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE crm_accounts SET token_enc = NULL, token_expiry = NULL,
			status = ?, status_reason = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`),
			connectors.StatusDisconnected, "disconnected by an administrator", now, tenantID, accountID)
		if err != nil {
			return formatError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("CRM account %d not found", accountID)
		}
		return audit(ctx, tx, now, tenantID, "admin", "account.disconnected", "crm_account", fmt.Sprint(accountID), "")
	})
}
