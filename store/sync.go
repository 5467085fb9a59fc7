package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/migrations"
)

// lockedAccount is what a sync or a link change learns when it locks an
// account.
type lockedAccount struct {
	Provision bool   `db:"provision"`
	Region    string `db:"region"`
}

// lockAccount checks that the account belongs to the tenant and, on
// PostgreSQL, locks its row until tx ends, so a sync and an admin's link
// change never interleave (a manual link set mid-sync is never
// overwritten). SQLite transactions already take the write lock at BEGIN.
func (db *DB) lockAccount(ctx context.Context, tx *sqlx.Tx, tenantID, accountID int64) (lockedAccount, error) {
	query := `SELECT a.provision, t.region FROM crm_accounts a JOIN tenants t ON t.id = a.tenant_id
		WHERE a.tenant_id = ? AND a.id = ?`
	if db.dialect == migrations.Postgres {
		query += ` FOR UPDATE OF a`
	}
	var a lockedAccount
	err := tx.GetContext(ctx, &a, tx.Rebind(query), tenantID, accountID)
	if err = formatError(err); err == ErrNotFound {
		return a, notFound("CRM account %d not found", accountID)
	}
	return a, err
}

// ApplyUserSync stores the users of a tenant's account as its CRM listed
// them, decides the links with mapping.Match and applies them, in one
// transaction:
//
//   - users are upserted in multi-row statements (unchanged ones are not
//     written); users missing from the list are marked gone;
//   - Match gets the listed users, the tenant's live employees (email, name,
//     mobile and every phone contact) and the account's links; manual links
//     are never written;
//   - automatic links Match dropped are deleted, new or changed ones
//     inserted, and each removal is written to the audit log with its
//     reason (deactivated or deleted in the CRM, employee deleted, …).
//
// It returns Match's result, or ENotFound for an account of another tenant.
func (db *DB) ApplyUserSync(ctx context.Context, tenantID, accountID int64, users []mapping.CRMUser) (mapping.Result, error) {
	var res mapping.Result
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		acct, err := db.lockAccount(ctx, tx, tenantID, accountID)
		if err != nil {
			return err
		}
		now := db.Now()
		users := dedupeUsers(users)
		ids, err := storeCRMUsers(ctx, tx, tenantID, accountID, users, now)
		if err != nil {
			return err
		}
		existing, err := loadLinks(ctx, tx, accountID)
		if err != nil {
			return err
		}
		emps, err := matchableEmployees(ctx, tx, tenantID)
		if err != nil {
			return err
		}
		links := make([]mapping.Link, len(existing))
		for i, l := range existing {
			links[i] = l.link()
		}
		res = mapping.Match(users, emps, links, acct.Region)
		return applyLinks(ctx, tx, tenantID, accountID, existing, res, ids, now)
	})
	if err != nil {
		return mapping.Result{}, fmt.Errorf("sync users of CRM account %d: %w", accountID, err)
	}
	return res, nil
}

// MatchableEmployees returns the tenant's live employees as the matcher
// sees them: email, full name, and mobile plus every phone contact (main
// and other), in two queries whatever their number.
func (db *DB) MatchableEmployees(ctx context.Context, tenantID int64) ([]mapping.Employee, error) {
	return matchableEmployees(ctx, db.db, tenantID)
}

func matchableEmployees(ctx context.Context, q sqlx.ExtContext, tenantID int64) ([]mapping.Employee, error) {
	var rows []struct {
		ID       int64  `db:"id"`
		Email    string `db:"email"`
		FullName string `db:"full_name"`
		Mobile   string `db:"mobile"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, q.Rebind(`SELECT id, email, full_name, mobile FROM employees
		WHERE tenant_id = ? AND deleted_at IS NULL ORDER BY id`), tenantID)
	if err != nil {
		return nil, formatError(err)
	}
	var phones []struct {
		EmployeeID int64  `db:"employee_id"`
		Value      string `db:"value"`
	}
	err = sqlx.SelectContext(ctx, q, &phones, q.Rebind(`SELECT c.employee_id, c.value
		FROM employee_contacts c JOIN employees e ON e.id = c.employee_id
		WHERE c.tenant_id = ? AND c.kind = 'phone' AND e.deleted_at IS NULL
		ORDER BY c.employee_id, c.purpose, c.position`), tenantID)
	if err != nil {
		return nil, formatError(err)
	}
	out := make([]mapping.Employee, len(rows))
	idx := make(map[int64]int, len(rows))
	for i, r := range rows {
		out[i] = mapping.Employee{ID: r.ID, FullName: r.FullName, Email: r.Email}
		if r.Mobile != "" {
			out[i].Phones = []string{r.Mobile}
		}
		idx[r.ID] = i
	}
	for _, p := range phones {
		if i, ok := idx[p.EmployeeID]; ok {
			out[i].Phones = append(out[i].Phones, p.Value)
		}
	}
	return out, nil
}
