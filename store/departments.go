package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

type departmentRow struct {
	ID        int64     `db:"id"`
	Name      string    `db:"name"`
	Extension string    `db:"extension"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

const departmentColumns = `id, name, extension, created_at, updated_at`

func (r departmentRow) department() telephony.Department {
	return telephony.Department{ID: r.ID, Name: r.Name, Extension: r.Extension, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// CreateDepartment validates in and stores it, assigning the next free
// extension when none is chosen. It returns telephony.Errors for invalid
// fields and an EConflict error naming the field when the name or extension
// is taken (extensions are shared with employees).
func (db *DB) CreateDepartment(ctx context.Context, tenantID int64, in telephony.DepartmentInput) (telephony.Department, error) {
	rules, err := db.rules(ctx, tenantID)
	if err != nil {
		return telephony.Department{}, err
	}
	in, err = in.Normalize(rules)
	if err != nil {
		return telephony.Department{}, err
	}
	var id int64
	err = retryAssigned(false, in.Extension == "", func() error {
		return db.inTx(ctx, func(tx *sqlx.Tx) error {
			ext := in.Extension
			if ext == "" {
				if ext, err = freeExtension(ctx, tx, tenantID, rules); err != nil {
					return err
				}
			}
			now := db.Now()
			id, err = insertID(ctx, tx, `INSERT INTO departments (tenant_id, name, name_key, extension, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?)`, tenantID, in.Name, mapping.NormalizeName(in.Name), ext, now, now)
			if err != nil {
				return err
			}
			if err := claimExtension(ctx, tx, tenantID, ext, "department", id); err != nil {
				return err
			}
			return audit(ctx, tx, now, tenantID, "api", "department.create", "department", fmt.Sprint(id),
				auditDetail(map[string]any{"name": in.Name, "extension": ext}))
		})
	})
	if err != nil {
		return telephony.Department{}, fmt.Errorf("create department: %w", err)
	}
	return db.Department(ctx, tenantID, id)
}

// Department returns the department with id, or ENotFound.
func (db *DB) Department(ctx context.Context, tenantID, id int64) (telephony.Department, error) {
	return department(ctx, db.db, tenantID, id)
}

func department(ctx context.Context, q sqlx.ExtContext, tenantID, id int64) (telephony.Department, error) {
	var r departmentRow
	err := sqlx.GetContext(ctx, q, &r, q.Rebind(`SELECT `+departmentColumns+` FROM departments WHERE tenant_id = ? AND id = ?`), tenantID, id)
	if err = formatError(err); err == ErrNotFound {
		return telephony.Department{}, notFound("department %d not found", id)
	}
	return r.department(), err
}

// Departments lists the tenant's departments by name.
func (db *DB) Departments(ctx context.Context, tenantID int64) ([]telephony.Department, error) {
	var rows []departmentRow
	err := db.db.SelectContext(ctx, &rows, db.q(`SELECT `+departmentColumns+` FROM departments
		WHERE tenant_id = ? ORDER BY name_key, id`), tenantID)
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", formatError(err))
	}
	out := make([]telephony.Department, len(rows))
	for i, r := range rows {
		out[i] = r.department()
	}
	return out, nil
}

// UpdateDepartment replaces a department's name and extension; an empty
// extension keeps the current one. Errors are as for CreateDepartment, plus
// ENotFound.
func (db *DB) UpdateDepartment(ctx context.Context, tenantID, id int64, in telephony.DepartmentInput) (telephony.Department, error) {
	rules, err := db.rules(ctx, tenantID)
	if err != nil {
		return telephony.Department{}, err
	}
	in, err = in.Normalize(rules)
	if err != nil {
		return telephony.Department{}, err
	}
	err = db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := department(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		if in.Extension == "" {
			in.Extension = cur.Extension
		}
		now := db.Now()
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE departments SET name = ?, name_key = ?, extension = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ?`), in.Name, mapping.NormalizeName(in.Name), in.Extension, now, tenantID, id); err != nil {
			return formatError(err)
		}
		if in.Extension != cur.Extension {
			if err := moveExtension(ctx, tx, tenantID, in.Extension, "department", id); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, tenantID, "api", "department.update", "department", fmt.Sprint(id),
			auditDetail(map[string]any{"name": in.Name, "extension": in.Extension}))
	})
	if err != nil {
		return telephony.Department{}, fmt.Errorf("update department %d: %w", id, err)
	}
	return db.Department(ctx, tenantID, id)
}

// DeleteDepartment deletes a department and frees its extension. While it
// has members or is a no-answer target or absence redirect it returns an
// EPrecondition error naming them, unless force: then its members are left
// without a department and those rules fall back to the default (drop, no
// redirect). It returns ENotFound for an unknown department.
func (db *DB) DeleteDepartment(ctx context.Context, tenantID, id int64, force bool) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := department(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		now := db.Now()
		deps, err := targetDependents(ctx, tx, tenantID, telephony.TargetDepartment, id, now)
		if err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &deps.Members, tx.Rebind(`SELECT full_name FROM employees
			WHERE tenant_id = ? AND department_id = ? AND deleted_at IS NULL ORDER BY name_key`), tenantID, id); err != nil {
			return formatError(err)
		}
		if !deps.Empty() && !force {
			return deps.Refuse(cur.Name)
		}
		if err := releaseTarget(ctx, tx, tenantID, telephony.TargetDepartment, id, now); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE employees SET department_id = NULL WHERE tenant_id = ? AND department_id = ?`,
			`DELETE FROM extensions WHERE tenant_id = ? AND owner_kind = 'department' AND owner_id = ?`,
			`DELETE FROM departments WHERE tenant_id = ? AND id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, tx.Rebind(q), tenantID, id); err != nil {
				return formatError(err)
			}
		}
		return audit(ctx, tx, now, tenantID, "api", "department.delete", "department", fmt.Sprint(id),
			auditDetail(map[string]any{"name": cur.Name, "force": force, "dependents": deps}))
	})
	if err != nil {
		return fmt.Errorf("delete department %d: %w", id, err)
	}
	return nil
}

// The helpers below are shared by employees and departments: both own
// extensions and both can be a no-answer target or an absence redirect.

// targetExists reports whether the tenant has a live employee or a
// department (kind) with id.
func targetExists(ctx context.Context, tx *sqlx.Tx, tenantID int64, kind string, id int64) (bool, error) {
	query := `SELECT COUNT(*) FROM departments WHERE tenant_id = ? AND id = ?`
	if kind == telephony.TargetEmployee {
		query = `SELECT COUNT(*) FROM employees WHERE tenant_id = ? AND id = ? AND deleted_at IS NULL`
	}
	var n int
	if err := tx.GetContext(ctx, &n, tx.Rebind(query), tenantID, id); err != nil {
		return false, formatError(err)
	}
	return n > 0, nil
}

// freeExtension returns the lowest free extension of the automatic range.
func freeExtension(ctx context.Context, tx *sqlx.Tx, tenantID int64, rules telephony.Rules) (string, error) {
	var taken []string
	if err := tx.SelectContext(ctx, &taken, tx.Rebind(`SELECT extension FROM extensions WHERE tenant_id = ?`), tenantID); err != nil {
		return "", formatError(err)
	}
	set := make(map[string]bool, len(taken))
	for _, x := range taken {
		set[x] = true
	}
	ext, ok := mapping.NextFreeExtension(set, rules.Emergency, telephony.ExtensionMin, telephony.ExtensionMax)
	if !ok {
		return "", telephony.Errorf(telephony.EConflict, "extension", "no free extension between %d and %d; choose one",
			telephony.ExtensionMin, telephony.ExtensionMax)
	}
	return ext, nil
}

// claimExtension records that ext belongs to an employee or department; the
// extensions primary key makes it unique across both.
func claimExtension(ctx context.Context, tx *sqlx.Tx, tenantID int64, ext, ownerKind string, ownerID int64) error {
	_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO extensions (tenant_id, extension, owner_kind, owner_id)
		VALUES (?, ?, ?, ?)`), tenantID, ext, ownerKind, ownerID)
	return formatError(err)
}

// moveExtension gives an owner a new extension.
func moveExtension(ctx context.Context, tx *sqlx.Tx, tenantID int64, ext, ownerKind string, ownerID int64) error {
	_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE extensions SET extension = ?
		WHERE tenant_id = ? AND owner_kind = ? AND owner_id = ?`), ext, tenantID, ownerKind, ownerID)
	return formatError(err)
}

type dependentEmployeeRow struct {
	ID       int64     `db:"id"`
	FullName string    `db:"full_name"`
	EndsAt   time.Time `db:"ends_at"`
}

// targetDependents names the live employees whose no-answer rule targets
// the employee or department (kind) id, or whose absence not yet over at
// now redirects to it.
func targetDependents(ctx context.Context, tx *sqlx.Tx, tenantID int64, kind string, id int64, now time.Time) (telephony.Dependents, error) {
	var d telephony.Dependents
	var rows []dependentEmployeeRow
	if err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT id, full_name FROM employees
		WHERE tenant_id = ? AND no_answer_action = ? AND no_answer_target_id = ? AND deleted_at IS NULL
		ORDER BY name_key`), tenantID, kind, id); err != nil {
		return d, formatError(err)
	}
	for _, r := range rows {
		if kind != telephony.TargetEmployee || r.ID != id {
			d.NoAnswerOf = append(d.NoAnswerOf, r.FullName)
		}
	}
	rows = nil
	if err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT e.id, e.full_name, a.ends_at
		FROM absences a JOIN employees e ON e.id = a.employee_id
		WHERE a.tenant_id = ? AND a.redirect_kind = ? AND a.redirect_id = ? AND e.deleted_at IS NULL
		ORDER BY e.name_key, a.starts_at`), tenantID, kind, id); err != nil {
		return d, formatError(err)
	}
	seen := map[int64]bool{}
	for _, r := range rows {
		if r.EndsAt.After(now) && !seen[r.ID] && (kind != telephony.TargetEmployee || r.ID != id) {
			seen[r.ID] = true
			d.RedirectOf = append(d.RedirectOf, r.FullName)
		}
	}
	return d, nil
}

// releaseTarget points the no-answer rules and absence redirects that
// target the employee or department (kind) id back at the defaults.
func releaseTarget(ctx context.Context, tx *sqlx.Tx, tenantID int64, kind string, id int64, now time.Time) error {
	if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE employees SET no_answer_action = ?, no_answer_target_id = NULL,
		updated_at = ? WHERE tenant_id = ? AND no_answer_action = ? AND no_answer_target_id = ?`),
		telephony.NoAnswerDrop, now, tenantID, kind, id); err != nil {
		return formatError(err)
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE absences SET redirect_kind = '', redirect_id = NULL
		WHERE tenant_id = ? AND redirect_kind = ? AND redirect_id = ?`), tenantID, kind, id)
	return formatError(err)
}

// retryAssigned runs fn again when it lost a race for a login or extension
// the store chose itself (a concurrent create took it first).
func retryAssigned(autoLogin, autoExtension bool, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := fn()
		var e *telephony.Error
		if attempt < 9 && errors.As(err, &e) && e.Code == telephony.EConflict &&
			((e.Field == "login" && autoLogin) || (e.Field == "extension" && autoExtension)) {
			continue
		}
		return err
	}
}

// checkRefs adds to invalid (Normalize's errors) the references that do
// not resolve in the tenant, skipping fields already in error. It returns
// every error found, or nil.
func checkRefs(ctx context.Context, tx *sqlx.Tx, tenantID int64, refs []telephony.Reference, invalid error) error {
	var es telephony.Errors
	if invalid != nil {
		es = append(es, invalid.(telephony.Errors)...)
	}
	bad := map[string]bool{}
	for _, e := range es {
		bad[e.Field] = true
	}
	for _, r := range refs {
		if bad[r.Field] {
			continue
		}
		ok, err := targetExists(ctx, tx, tenantID, r.Kind, r.ID)
		if err != nil {
			return err
		}
		if !ok {
			es.Add(r.Field, "%s %d does not exist", r.Kind, r.ID)
		}
	}
	return es.Err()
}

// rules returns the directory rules of a tenant.
func (db *DB) rules(ctx context.Context, tenantID int64) (telephony.Rules, error) {
	t, err := db.Tenant(ctx, tenantID)
	if err != nil {
		return telephony.Rules{}, err
	}
	return telephony.RulesFor(t), nil
}

// auditDetail encodes an audit-log detail object.
func auditDetail(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return "{}"
	}
	return string(b)
}
