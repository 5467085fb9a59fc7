package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

// AccountLink is one CRM user of an account with its link, if any.
type AccountLink struct {
	CRMUserID string // the CRM's id of the user
	Name      string
	Email     string
	Active    bool // false: deactivated in the CRM
	Gone      bool // missing from the CRM's last listing
	Linked    bool // a link row exists (manual "no employee" included)
	// EmployeeID is the linked employee; nil with Linked and Manual means
	// an admin said "no employee".
	EmployeeID   *int64
	EmployeeName string
	Manual       bool
	Rule         string // email | phone | name | manual
	Confidence   float64
}

type employeeLinkRow struct {
	ID         int64         `db:"id"`
	CRMUserRow int64         `db:"crm_user_id"`
	CRMUserID  string        `db:"external_id"`
	EmployeeID sql.NullInt64 `db:"employee_id"`
	Manual     bool          `db:"manual"`
	Rule       string        `db:"rule"`
	Confidence float64       `db:"confidence"`
}

// link converts r for mapping.Match; a manual "no employee" link has
// EmployeeID 0, which no employee has.
func (r employeeLinkRow) link() mapping.Link {
	return mapping.Link{CRMUserID: r.CRMUserID, EmployeeID: r.EmployeeID.Int64, Manual: r.Manual, Rule: r.Rule, Confidence: r.Confidence}
}

func loadLinks(ctx context.Context, q sqlx.ExtContext, accountID int64) ([]employeeLinkRow, error) {
	var rows []employeeLinkRow
	err := sqlx.SelectContext(ctx, q, &rows, q.Rebind(`SELECT l.id, l.crm_user_id, u.external_id, l.employee_id,
		l.manual, l.rule, l.confidence
		FROM employee_links l JOIN crm_users u ON u.id = l.crm_user_id WHERE l.account_id = ?`), accountID)
	return rows, formatError(err)
}

// applyLinks writes the automatic links of res: links it dropped or changed
// are deleted first (so a moved employee never trips the unique index), new
// and changed ones inserted in multi-row statements, and every removal
// Match reported is audited. Manual links are not touched.
func applyLinks(ctx context.Context, tx *sqlx.Tx, tenantID, accountID int64, existing []employeeLinkRow, res mapping.Result,
	ids map[string]int64, now time.Time) error {
	auto := make(map[string]employeeLinkRow, len(existing))
	for _, l := range existing {
		if !l.Manual {
			auto[l.CRMUserID] = l
		}
	}
	var insert []mapping.Link
	for _, l := range res.Links {
		if l.Manual {
			continue
		}
		if cur, ok := auto[l.CRMUserID]; ok && cur.EmployeeID.Int64 == l.EmployeeID && cur.Rule == l.Rule {
			delete(auto, l.CRMUserID) // unchanged: keep the row
			continue
		}
		insert = append(insert, l)
	}
	drop := make([]int64, 0, len(auto))
	for _, l := range auto {
		drop = append(drop, l.ID)
	}
	if err := execIn(ctx, tx, `DELETE FROM employee_links WHERE id IN (?)`, drop); err != nil {
		return fmt.Errorf("delete links: %w", err)
	}
	err := bulkExec(ctx, tx, `INSERT INTO employee_links (tenant_id, account_id, crm_user_id, employee_id, manual, rule,
		confidence, created_at, updated_at)`, "", 9, len(insert), func(i int, args []any) []any {
		l := insert[i]
		return append(args, tenantID, accountID, ids[l.CRMUserID], l.EmployeeID, false, l.Rule, l.Confidence, now, now)
	}, nil)
	if err != nil {
		return fmt.Errorf("insert links: %w", err)
	}
	rowOf := make(map[string]int64, len(existing))
	for _, l := range existing {
		rowOf[l.CRMUserID] = l.CRMUserRow
	}
	err = bulkExec(ctx, tx, `INSERT INTO audit_log (tenant_id, actor, action, subject_kind, subject_id, detail, created_at)`,
		"", 7, len(res.Unlinked), func(i int, args []any) []any {
			u := res.Unlinked[i]
			return append(args, tenantID, "sync", "crm_user.unlinked", "crm_user", fmt.Sprint(rowOf[u.CRMUserID]),
				auditDetail(map[string]any{"account_id": accountID, "crm_user_id": u.CRMUserID,
					"employee_id": u.EmployeeID, "reason": u.Reason}), now)
		}, nil)
	if err != nil {
		return fmt.Errorf("audit unlinks: %w", err)
	}
	return nil
}

// AccountLinks lists every CRM user of the tenant's account with its link,
// in the order the users were first seen. It returns ENotFound for an
// account of another tenant.
func (db *DB) AccountLinks(ctx context.Context, tenantID, accountID int64) ([]AccountLink, error) {
	if _, err := db.Account(ctx, tenantID, accountID); err != nil {
		return nil, err
	}
	var rows []accountLinkRow
	err := db.db.SelectContext(ctx, &rows, db.q(accountLinkQuery+` WHERE u.tenant_id = ? AND u.account_id = ? ORDER BY u.id`),
		tenantID, accountID)
	if err != nil {
		return nil, fmt.Errorf("list links of CRM account %d: %w", accountID, formatError(err))
	}
	out := make([]AccountLink, len(rows))
	for i, r := range rows {
		out[i] = r.link()
	}
	return out, nil
}

type accountLinkRow struct {
	ExternalID   string          `db:"external_id"`
	Name         string          `db:"name"`
	Email        string          `db:"email"`
	Active       bool            `db:"active"`
	Gone         bool            `db:"gone"`
	LinkID       sql.NullInt64   `db:"link_id"`
	EmployeeID   sql.NullInt64   `db:"employee_id"`
	EmployeeName sql.NullString  `db:"employee_name"`
	Manual       sql.NullBool    `db:"manual"`
	Rule         sql.NullString  `db:"rule"`
	Confidence   sql.NullFloat64 `db:"confidence"`
}

const accountLinkQuery = `SELECT u.external_id, u.name, u.email, u.active, u.gone,
		l.id AS link_id, l.employee_id, e.full_name AS employee_name, l.manual, l.rule, l.confidence
	FROM crm_users u
	LEFT JOIN employee_links l ON l.account_id = u.account_id AND l.crm_user_id = u.id
	LEFT JOIN employees e ON e.id = l.employee_id`

func (r accountLinkRow) link() AccountLink {
	return AccountLink{
		CRMUserID: r.ExternalID, Name: r.Name, Email: r.Email, Active: r.Active, Gone: r.Gone,
		Linked: r.LinkID.Valid, EmployeeID: nullID(r.EmployeeID), EmployeeName: r.EmployeeName.String,
		Manual: r.Manual.Bool, Rule: r.Rule.String, Confidence: r.Confidence.Float64,
	}
}

// accountLink returns one CRM user of an account with its link.
func accountLink(ctx context.Context, q sqlx.ExtContext, accountID, crmUserRow int64) (AccountLink, error) {
	var r accountLinkRow
	err := sqlx.GetContext(ctx, q, &r, q.Rebind(accountLinkQuery+` WHERE u.account_id = ? AND u.id = ?`), accountID, crmUserRow)
	if err != nil {
		return AccountLink{}, formatError(err)
	}
	return r.link(), nil
}

// crmUser finds a CRM user of the account by its CRM id.
func crmUser(ctx context.Context, tx *sqlx.Tx, accountID int64, crmUserID string) (id int64, name string, err error) {
	var r struct {
		ID   int64  `db:"id"`
		Name string `db:"name"`
	}
	err = tx.GetContext(ctx, &r, tx.Rebind(`SELECT id, name FROM crm_users WHERE account_id = ? AND external_id = ?`),
		accountID, crmUserID)
	return r.ID, r.Name, formatError(err)
}

// SetManualLink links a CRM user of the tenant's account to an employee by
// hand, or with employeeID nil records that the user has no employee. A
// sync never changes a manual link. An automatic link of the same employee
// to another user of the account gives way (and is audited); a manual one
// is an EConflict naming that user. Unknown users and employees are
// EInvalid naming the field; an account of another tenant is ENotFound.
func (db *DB) SetManualLink(ctx context.Context, tenantID, accountID int64, crmUserID string, employeeID *int64) (AccountLink, error) {
	var row int64
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := db.lockAccount(ctx, tx, tenantID, accountID); err != nil {
			return err
		}
		var err error
		if row, _, err = crmUser(ctx, tx, accountID, crmUserID); err == ErrNotFound {
			return telephony.Errorf(telephony.EInvalid, "crm_user_id", "CRM user %q is not a user of account %d", crmUserID, accountID)
		} else if err != nil {
			return err
		}
		now := db.Now()
		if employeeID != nil {
			if err := db.freeEmployeeForManualLink(ctx, tx, tenantID, accountID, row, *employeeID, now); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(`INSERT INTO employee_links (tenant_id, account_id, crm_user_id, employee_id,
			manual, rule, confidence, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id, crm_user_id) DO UPDATE SET employee_id = excluded.employee_id, manual = excluded.manual,
			rule = excluded.rule, confidence = excluded.confidence, updated_at = excluded.updated_at`),
			tenantID, accountID, row, employeeID, true, mapping.RuleManual, 1.0, now, now)
		if err != nil {
			return formatError(err)
		}
		return audit(ctx, tx, now, tenantID, "api", "crm_user.link_set", "crm_user", fmt.Sprint(row),
			auditDetail(map[string]any{"account_id": accountID, "crm_user_id": crmUserID, "employee_id": employeeID}))
	})
	if err != nil {
		return AccountLink{}, fmt.Errorf("set link of CRM user %s: %w", crmUserID, err)
	}
	return accountLink(ctx, db.db, accountID, row)
}

// freeEmployeeForManualLink checks that employee id is a live employee of
// the tenant and not manually linked to another user of the account, and
// removes an automatic link of it to another user.
func (db *DB) freeEmployeeForManualLink(ctx context.Context, tx *sqlx.Tx, tenantID, accountID, crmUserRow, id int64, now time.Time) error {
	var name string
	err := tx.GetContext(ctx, &name, tx.Rebind(`SELECT full_name FROM employees
		WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL`), tenantID, id)
	if err = formatError(err); err == ErrNotFound {
		return telephony.Errorf(telephony.EInvalid, "employee_id", "employee %d does not exist", id)
	} else if err != nil {
		return err
	}
	var other struct {
		ID         int64  `db:"id"`
		Manual     bool   `db:"manual"`
		UserRow    int64  `db:"crm_user_id"`
		ExternalID string `db:"external_id"`
		UserName   string `db:"name"`
	}
	err = tx.GetContext(ctx, &other, tx.Rebind(`SELECT l.id, l.manual, l.crm_user_id, u.external_id, u.name
		FROM employee_links l JOIN crm_users u ON u.id = l.crm_user_id
		WHERE l.account_id = ? AND l.employee_id = ? AND l.crm_user_id <> ?`), accountID, id, crmUserRow)
	switch err = formatError(err); {
	case err == ErrNotFound:
		return nil
	case err != nil:
		return err
	case other.Manual:
		return telephony.Errorf(telephony.EConflict, "employee_id",
			"employee %d (%s) is already linked by hand to CRM user %s (%s); clear that link first",
			id, name, other.ExternalID, other.UserName)
	}
	if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM employee_links WHERE id = ?`), other.ID); err != nil {
		return formatError(err)
	}
	return audit(ctx, tx, now, tenantID, "api", "crm_user.unlinked", "crm_user", fmt.Sprint(other.UserRow),
		auditDetail(map[string]any{"account_id": accountID, "crm_user_id": other.ExternalID, "employee_id": id,
			"reason": mapping.ReasonManual}))
}

// ClearManualLink removes the manual link (or "no employee") of a CRM user
// of the tenant's account, so automatic matching applies to it again from
// the next sync. It returns ENotFound when the user is unknown or has no
// manual link.
func (db *DB) ClearManualLink(ctx context.Context, tenantID, accountID int64, crmUserID string) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := db.lockAccount(ctx, tx, tenantID, accountID); err != nil {
			return err
		}
		row, _, err := crmUser(ctx, tx, accountID, crmUserID)
		if err == ErrNotFound {
			return notFound("CRM user %q not found in account %d", crmUserID, accountID)
		} else if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM employee_links WHERE crm_user_id = ? AND manual = ?`), row, true)
		if err != nil {
			return formatError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("CRM user %q has no manual link", crmUserID)
		}
		return audit(ctx, tx, db.Now(), tenantID, "api", "crm_user.link_cleared", "crm_user", fmt.Sprint(row),
			auditDetail(map[string]any{"account_id": accountID, "crm_user_id": crmUserID}))
	})
	if err != nil {
		return fmt.Errorf("clear link of CRM user %s: %w", crmUserID, err)
	}
	return nil
}

// LinkProvisioned links a CRM user of the tenant's account to the employee
// just created for it from the user's own email (rule email), unless the
// user was linked meanwhile. It returns EConflict when the employee is
// linked to another user of the account.
func (db *DB) LinkProvisioned(ctx context.Context, tenantID, accountID int64, crmUserID string, employeeID int64) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := db.lockAccount(ctx, tx, tenantID, accountID); err != nil {
			return err
		}
		row, _, err := crmUser(ctx, tx, accountID, crmUserID)
		if err != nil {
			return err
		}
		now := db.Now()
		res, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO employee_links (tenant_id, account_id, crm_user_id, employee_id,
			manual, rule, confidence, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (account_id, crm_user_id) DO NOTHING`),
			tenantID, accountID, row, employeeID, false, mapping.RuleEmail, mapping.ConfidenceEmail, now, now)
		if err != nil {
			return formatError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return audit(ctx, tx, now, tenantID, "sync", "crm_user.provisioned", "crm_user", fmt.Sprint(row),
			auditDetail(map[string]any{"account_id": accountID, "crm_user_id": crmUserID, "employee_id": employeeID}))
	})
	if err != nil {
		return fmt.Errorf("link CRM user %s to employee %d: %w", crmUserID, employeeID, err)
	}
	return nil
}
