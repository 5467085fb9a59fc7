package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

type employeeRow struct {
	ID               int64         `db:"id"`
	Email            string        `db:"email"`
	FullName         string        `db:"full_name"`
	Login            string        `db:"login"`
	Position         string        `db:"position"`
	Role             string        `db:"role"`
	Extension        string        `db:"extension"`
	DepartmentID     sql.NullInt64 `db:"department_id"`
	Mobile           string        `db:"mobile"`
	Devices          string        `db:"devices"`
	MobileDelayS     int           `db:"mobile_delay_s"`
	NoAnswerTimeoutS int           `db:"no_answer_timeout_s"`
	NoAnswerAction   string        `db:"no_answer_action"`
	NoAnswerTargetID sql.NullInt64 `db:"no_answer_target_id"`
	Enabled          bool          `db:"enabled"`
	SIPStatus        string        `db:"sip_status"`
	CreatedAt        time.Time     `db:"created_at"`
	UpdatedAt        time.Time     `db:"updated_at"`
}

const employeeColumns = `id, email, full_name, login, position, role, extension, department_id, mobile, devices,
	mobile_delay_s, no_answer_timeout_s, no_answer_action, no_answer_target_id, enabled, sip_status, created_at, updated_at`

func (r employeeRow) employee() telephony.Employee {
	return telephony.Employee{
		ID: r.ID, Email: r.Email, FullName: r.FullName, Login: r.Login, Position: r.Position, Role: r.Role,
		Extension: r.Extension, DepartmentID: nullID(r.DepartmentID), Mobile: r.Mobile,
		MainContacts: []string{}, OtherContacts: []string{}, Devices: r.Devices, MobileDelayS: r.MobileDelayS,
		NoAnswer: telephony.NoAnswer{
			TimeoutS: r.NoAnswerTimeoutS, Action: r.NoAnswerAction, TargetID: nullID(r.NoAnswerTargetID),
		},
		Schedule: []telephony.Slot{}, Absences: []telephony.Absence{},
		Enabled: r.Enabled, SIPStatus: r.SIPStatus, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// CreateEmployee validates in and stores it as a new employee of the tenant:
// a login is generated from the name and an extension assigned when not
// given. It returns telephony.Errors for every invalid field (nothing is
// written then) and an EConflict error naming the field when the email,
// name, login or extension is taken.
func (db *DB) CreateEmployee(ctx context.Context, tenantID int64, in telephony.EmployeeInput) (telephony.Employee, error) {
	rules, err := db.rules(ctx, tenantID)
	if err != nil {
		return telephony.Employee{}, err
	}
	e, invalid := in.Normalize(rules)
	hash, err := hashPassword(in.Password, invalid)
	if err != nil {
		return telephony.Employee{}, err
	}
	var id int64
	err = retryAssigned(e.Login == "", e.Extension == "", func() error {
		return db.inTx(ctx, func(tx *sqlx.Tx) error {
			if err := checkRefs(ctx, tx, tenantID, in.References(), invalid); err != nil {
				return err
			}
			e := e
			if e.Login == "" {
				if e.Login, err = freeLogin(ctx, tx, rules.Prefix, e.FullName); err != nil {
					return err
				}
			}
			if e.Extension == "" {
				if e.Extension, err = freeExtension(ctx, tx, tenantID, rules); err != nil {
					return err
				}
			}
			now := db.Now()
			id, err = insertID(ctx, tx, `INSERT INTO employees (tenant_id, email, full_name, name_key, login, password_hash,
				position, role, extension, department_id, mobile, devices, mobile_delay_s, no_answer_timeout_s,
				no_answer_action, no_answer_target_id, enabled, sip_status, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				tenantID, e.Email, e.FullName, mapping.NormalizeName(e.FullName), e.Login, hash, e.Position, e.Role,
				e.Extension, e.DepartmentID, e.Mobile, e.Devices, e.MobileDelayS, e.NoAnswer.TimeoutS,
				e.NoAnswer.Action, e.NoAnswer.TargetID, e.Enabled, e.SIPStatus, now, now)
			if err != nil {
				return err
			}
			if err := claimExtension(ctx, tx, tenantID, e.Extension, "employee", id); err != nil {
				return err
			}
			if err := writeEmployeeChildren(ctx, tx, tenantID, id, e); err != nil {
				return err
			}
			return audit(ctx, tx, now, tenantID, "api", "employee.create", "employee", fmt.Sprint(id),
				auditDetail(map[string]any{"email": e.Email, "full_name": e.FullName, "login": e.Login, "extension": e.Extension}))
		})
	})
	if err != nil {
		return telephony.Employee{}, fmt.Errorf("create employee: %w", err)
	}
	return db.Employee(ctx, tenantID, id)
}

// UpdateEmployee replaces the editable fields of employee id with in (PUT).
// Empty email, login, extension, password and SIP status keep the current
// ones; a different email is refused. Errors are as for CreateEmployee, plus
// ENotFound.
func (db *DB) UpdateEmployee(ctx context.Context, tenantID, id int64, in telephony.EmployeeInput) (telephony.Employee, error) {
	return db.updateEmployee(ctx, tenantID, id, in.Password, func(telephony.Employee) (telephony.EmployeeInput, error) {
		return in, nil
	})
}

// PatchEmployee changes only the fields p names (PATCH). Errors are as for
// UpdateEmployee.
func (db *DB) PatchEmployee(ctx context.Context, tenantID, id int64, p telephony.EmployeePatch) (telephony.Employee, error) {
	var password string
	_ = json.Unmarshal(p["password"], &password) // a non-string fails in Apply
	return db.updateEmployee(ctx, tenantID, id, password, func(cur telephony.Employee) (telephony.EmployeeInput, error) {
		return p.Apply(cur.Input())
	})
}

func (db *DB) updateEmployee(ctx context.Context, tenantID, id int64, password string,
	input func(telephony.Employee) (telephony.EmployeeInput, error)) (telephony.Employee, error) {
	rules, err := db.rules(ctx, tenantID)
	if err != nil {
		return telephony.Employee{}, err
	}
	hash, err := hashPassword(password, nil)
	if err != nil {
		return telephony.Employee{}, err
	}
	err = db.inTx(ctx, func(tx *sqlx.Tx) error {
		// A no-op write takes the row lock first (PostgreSQL; SQLite's
		// immediate transactions are serial), so two concurrent PATCHes
		// cannot both start from the same current employee.
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE employees SET updated_at = updated_at
			WHERE tenant_id = ? AND id = ?`), tenantID, id); err != nil {
			return formatError(err)
		}
		cur, err := employee(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		in, err := input(cur)
		if err != nil {
			return err
		}
		e, invalid := in.NormalizeUpdate(cur, rules)
		if err := checkRefs(ctx, tx, tenantID, in.References(), invalid); err != nil {
			return err
		}
		now := db.Now()
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE employees SET full_name = ?, name_key = ?, login = ?,
			position = ?, role = ?, extension = ?, department_id = ?, mobile = ?, devices = ?, mobile_delay_s = ?,
			no_answer_timeout_s = ?, no_answer_action = ?, no_answer_target_id = ?, enabled = ?, sip_status = ?,
			updated_at = ? WHERE tenant_id = ? AND id = ?`),
			e.FullName, mapping.NormalizeName(e.FullName), e.Login, e.Position, e.Role, e.Extension, e.DepartmentID,
			e.Mobile, e.Devices, e.MobileDelayS, e.NoAnswer.TimeoutS, e.NoAnswer.Action, e.NoAnswer.TargetID,
			e.Enabled, e.SIPStatus, now, tenantID, id)
		if err != nil {
			return formatError(err)
		}
		changed := telephony.ChangedFields(cur, e)
		if hash != "" {
			if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE employees SET password_hash = ? WHERE id = ?`), hash, id); err != nil {
				return formatError(err)
			}
			changed = append(changed, "password")
		}
		if e.Extension != cur.Extension {
			if err := moveExtension(ctx, tx, tenantID, e.Extension, "employee", id); err != nil {
				return err
			}
		}
		if err := deleteEmployeeChildren(ctx, tx, id); err != nil {
			return err
		}
		if err := writeEmployeeChildren(ctx, tx, tenantID, id, e); err != nil {
			return err
		}
		return audit(ctx, tx, now, tenantID, "api", "employee.update", "employee", fmt.Sprint(id),
			auditDetail(map[string]any{"changed": changed}))
	})
	if err != nil {
		return telephony.Employee{}, fmt.Errorf("update employee %d: %w", id, err)
	}
	return db.Employee(ctx, tenantID, id)
}

// DeleteEmployee soft-deletes employee id: its email, name, login and
// extension become free, its contacts and calls stay. While it is linked to
// a CRM user or is another employee's no-answer target or absence redirect
// it returns an EPrecondition error naming them, unless force: then the
// links are removed and those rules fall back to the PBX's default (drop,
// no redirect). It returns ENotFound for an unknown or deleted employee.
func (db *DB) DeleteEmployee(ctx context.Context, tenantID, id int64, force bool) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		cur, err := employee(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		deps, err := targetDependents(ctx, tx, tenantID, telephony.TargetEmployee, id, db.Now())
		if err != nil {
			return err
		}
		if deps.CRMUsers, err = linkedCRMUsers(ctx, tx, tenantID, id); err != nil {
			return err
		}
		if !deps.Empty() && !force {
			return deps.Refuse(cur.FullName)
		}
		now := db.Now()
		if err := releaseTarget(ctx, tx, tenantID, telephony.TargetEmployee, id, now); err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM employee_links WHERE tenant_id = ? AND employee_id = ?`,
			`DELETE FROM extensions WHERE tenant_id = ? AND owner_kind = 'employee' AND owner_id = ?`,
		} {
			if _, err := tx.ExecContext(ctx, tx.Rebind(q), tenantID, id); err != nil {
				return formatError(err)
			}
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE employees SET deleted_at = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ?`), now, now, tenantID, id); err != nil {
			return formatError(err)
		}
		return audit(ctx, tx, now, tenantID, "api", "employee.delete", "employee", fmt.Sprint(id),
			auditDetail(map[string]any{"full_name": cur.FullName, "email": cur.Email, "force": force, "dependents": deps}))
	})
	if err != nil {
		return fmt.Errorf("delete employee %d: %w", id, err)
	}
	return nil
}

// Employee returns the employee with id, or ENotFound (also when it was
// deleted or belongs to another tenant).
func (db *DB) Employee(ctx context.Context, tenantID, id int64) (telephony.Employee, error) {
	return employee(ctx, db.db, tenantID, id)
}

// Employees lists the tenant's employees by name.
func (db *DB) Employees(ctx context.Context, tenantID int64, f telephony.EmployeeFilter) ([]telephony.Employee, error) {
	where, args := "TRUE", []any{}
	if f.DepartmentID != nil {
		where, args = "department_id = ?", append(args, *f.DepartmentID)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where += ` AND (name_key LIKE ? ESCAPE '\' OR email LIKE ? ESCAPE '\')`
		args = append(args, "%"+likeEscape(mapping.NormalizeName(q))+"%", "%"+likeEscape(strings.ToLower(q))+"%")
	}
	es, err := loadEmployees(ctx, db.db, tenantID, where+" ORDER BY name_key, id", args...)
	if err != nil {
		return nil, fmt.Errorf("list employees: %w", err)
	}
	return es, nil
}

// EmployeeByContact returns the employee who has value (an E.164 number or
// a SIP URI, as mapping.Contact normalises it) among its main contacts, as
// its mobile, or among its other contacts, in that order of preference. It
// recognises who answered or called; it returns ENotFound when nobody has it.
func (db *DB) EmployeeByContact(ctx context.Context, tenantID int64, value string) (telephony.Employee, error) {
	var id int64
	err := db.db.GetContext(ctx, &id, db.q(`SELECT id FROM (
			SELECT e.id, CASE c.purpose WHEN 'main' THEN 0 ELSE 2 END AS rank
			FROM employee_contacts c JOIN employees e ON e.id = c.employee_id
			WHERE c.tenant_id = ? AND c.value = ? AND e.deleted_at IS NULL
			UNION ALL
			SELECT id, 1 AS rank FROM employees WHERE tenant_id = ? AND mobile = ? AND deleted_at IS NULL
		) m ORDER BY rank, id LIMIT 1`), tenantID, value, tenantID, value)
	if err = formatError(err); err == ErrNotFound {
		return telephony.Employee{}, notFound("no employee has the contact %s", value)
	} else if err != nil {
		return telephony.Employee{}, fmt.Errorf("employee by contact: %w", err)
	}
	return db.Employee(ctx, tenantID, id)
}

// Seats counts the tenant's active (enabled, not deleted) employees against
// the included seats.
func (db *DB) Seats(ctx context.Context, tenantID int64) (telephony.Seats, error) {
	var n int
	err := db.db.GetContext(ctx, &n, db.q(`SELECT COUNT(*) FROM employees
		WHERE tenant_id = ? AND deleted_at IS NULL AND enabled = ?`), tenantID, true)
	if err != nil {
		return telephony.Seats{}, fmt.Errorf("count seats: %w", formatError(err))
	}
	return telephony.NewSeats(n), nil
}

// hashPassword bcrypt-hashes a password that passed validation; it returns
// "" for no password or one validation refuses.
func hashPassword(pw string, invalid error) (string, error) {
	if pw == "" || invalid != nil || len([]rune(pw)) < telephony.MinPasswordLen || len(pw) > telephony.MaxPasswordBytes {
		return "", nil
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// freeLogin returns the first of the name's login candidates nobody uses.
func freeLogin(ctx context.Context, tx *sqlx.Tx, prefix, fullName string) (string, error) {
	candidates := mapping.LoginCandidates(prefix, fullName)
	query, args, err := sqlx.In(`SELECT login FROM employees WHERE deleted_at IS NULL AND login IN (?)`, candidates)
	if err != nil {
		return "", fmt.Errorf("build login query: %w", err)
	}
	var taken []string
	if err := tx.SelectContext(ctx, &taken, tx.Rebind(query), args...); err != nil {
		return "", formatError(err)
	}
	used := make(map[string]bool, len(taken))
	for _, l := range taken {
		used[l] = true
	}
	for _, c := range candidates {
		if !used[c] {
			return c, nil
		}
	}
	return "", telephony.Errorf(telephony.EConflict, "login", "every login made from this name is taken; choose one")
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func nullID(n sql.NullInt64) *int64 {
	if !n.Valid {
		return nil
	}
	return &n.Int64
}

type linkedUserRow struct {
	Name      string `db:"name"`
	Connector string `db:"connector"`
	AccountID int64  `db:"account_id"`
}

// linkedCRMUsers lists the CRM users employee id is linked to.
func linkedCRMUsers(ctx context.Context, tx *sqlx.Tx, tenantID, id int64) ([]telephony.LinkedCRMUser, error) {
	var rows []linkedUserRow
	err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT
		CASE WHEN u.name = '' THEN u.external_id ELSE u.name END AS name, a.connector, a.id AS account_id
		FROM employee_links l JOIN crm_users u ON u.id = l.crm_user_id JOIN crm_accounts a ON a.id = l.account_id
		WHERE l.tenant_id = ? AND l.employee_id = ? ORDER BY a.id, u.id`), tenantID, id)
	if err != nil {
		return nil, formatError(err)
	}
	out := make([]telephony.LinkedCRMUser, len(rows))
	for i, r := range rows {
		out[i] = telephony.LinkedCRMUser{Name: r.Name, Connector: r.Connector, AccountID: r.AccountID}
	}
	return out, nil
}

// employee loads one live employee of the tenant with its contacts,
// schedule and absences.
func employee(ctx context.Context, q sqlx.ExtContext, tenantID, id int64) (telephony.Employee, error) {
	es, err := loadEmployees(ctx, q, tenantID, "id = ?", id)
	if err != nil {
		return telephony.Employee{}, err
	}
	if len(es) == 0 {
		return telephony.Employee{}, notFound("employee %d not found", id)
	}
	return es[0], nil
}

type employeeContactRow struct {
	EmployeeID int64  `db:"employee_id"`
	Purpose    string `db:"purpose"`
	Value      string `db:"value"`
}

type scheduleSlotRow struct {
	EmployeeID int64 `db:"employee_id"`
	Weekday    int   `db:"weekday"`
	StartMin   int   `db:"start_min"`
	EndMin     int   `db:"end_min"`
}

type absenceRow struct {
	EmployeeID   int64         `db:"employee_id"`
	Kind         string        `db:"kind"`
	StartsAt     time.Time     `db:"starts_at"`
	EndsAt       time.Time     `db:"ends_at"`
	RedirectKind string        `db:"redirect_kind"`
	RedirectID   sql.NullInt64 `db:"redirect_id"`
}

// loadEmployees returns the tenant's live employees matching where (SQL
// after WHERE, ? placeholders), with their contacts, schedules and
// absences, in three queries whatever their number.
func loadEmployees(ctx context.Context, q sqlx.ExtContext, tenantID int64, where string, args ...any) ([]telephony.Employee, error) {
	var rows []employeeRow
	err := sqlx.SelectContext(ctx, q, &rows, q.Rebind(`SELECT `+employeeColumns+` FROM employees
		WHERE tenant_id = ? AND deleted_at IS NULL AND `+where), append([]any{tenantID}, args...)...)
	if err != nil || len(rows) == 0 {
		return nil, formatError(err)
	}
	out := make([]telephony.Employee, len(rows))
	byID := make(map[int64]*telephony.Employee, len(rows))
	ids := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = r.employee()
		byID[r.ID] = &out[i]
		ids[i] = r.ID
	}
	// One id list per query; large tenants are listed in chunks that stay
	// under both engines' parameter limits.
	for start := 0; start < len(ids); start += 1000 {
		chunk := ids[start:min(start+1000, len(ids))]
		var contacts []employeeContactRow
		var slots []scheduleSlotRow
		var absences []absenceRow
		for _, l := range []struct {
			dest  any
			query string
		}{
			{&contacts, `SELECT employee_id, purpose, value FROM employee_contacts WHERE employee_id IN (?) ORDER BY employee_id, purpose, position`},
			{&slots, `SELECT employee_id, weekday, start_min, end_min FROM schedule_slots WHERE employee_id IN (?) ORDER BY employee_id, weekday, start_min`},
			{&absences, `SELECT employee_id, kind, starts_at, ends_at, redirect_kind, redirect_id FROM absences WHERE employee_id IN (?) ORDER BY employee_id, starts_at`},
		} {
			query, qargs, err := sqlx.In(l.query, chunk)
			if err != nil {
				return nil, fmt.Errorf("build query: %w", err)
			}
			if err := sqlx.SelectContext(ctx, q, l.dest, q.Rebind(query), qargs...); err != nil {
				return nil, formatError(err)
			}
		}
		for _, c := range contacts {
			e := byID[c.EmployeeID]
			if c.Purpose == "main" {
				e.MainContacts = append(e.MainContacts, c.Value)
			} else {
				e.OtherContacts = append(e.OtherContacts, c.Value)
			}
		}
		for _, s := range slots {
			e := byID[s.EmployeeID]
			e.Schedule = append(e.Schedule, telephony.Slot{
				Weekday: time.Weekday(s.Weekday), Start: telephony.FormatClock(s.StartMin), End: telephony.FormatClock(s.EndMin),
			})
		}
		for _, a := range absences {
			e := byID[a.EmployeeID]
			abs := telephony.Absence{Kind: a.Kind, StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC()}
			if a.RedirectKind != "" && a.RedirectID.Valid {
				abs.Redirect = &telephony.Target{Kind: a.RedirectKind, ID: a.RedirectID.Int64}
			}
			e.Absences = append(e.Absences, abs)
		}
	}
	return out, nil
}

// writeEmployeeChildren inserts e's contacts, schedule and absences.
func writeEmployeeChildren(ctx context.Context, tx *sqlx.Tx, tenantID, id int64, e telephony.Employee) error {
	for purpose, values := range map[string][]string{"main": e.MainContacts, "other": e.OtherContacts} {
		for i, v := range values {
			kind := mapping.ContactPhone
			if !strings.HasPrefix(v, "+") {
				kind = mapping.ContactSIP
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO employee_contacts
				(tenant_id, employee_id, purpose, kind, value, position) VALUES (?, ?, ?, ?, ?, ?)`),
				tenantID, id, purpose, string(kind), v, i); err != nil {
				return formatError(err)
			}
		}
	}
	for _, s := range e.Schedule {
		start, end := s.Minutes()
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO schedule_slots
			(tenant_id, employee_id, weekday, start_min, end_min) VALUES (?, ?, ?, ?, ?)`),
			tenantID, id, int(s.Weekday), start, end); err != nil {
			return formatError(err)
		}
	}
	for _, a := range e.Absences {
		kind, target := "", (*int64)(nil)
		if a.Redirect != nil {
			kind, target = a.Redirect.Kind, &a.Redirect.ID
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO absences
			(tenant_id, employee_id, kind, starts_at, ends_at, redirect_kind, redirect_id) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			tenantID, id, a.Kind, a.StartsAt.UTC(), a.EndsAt.UTC(), kind, target); err != nil {
			return formatError(err)
		}
	}
	return nil
}

// deleteEmployeeChildren removes what writeEmployeeChildren wrote.
func deleteEmployeeChildren(ctx context.Context, tx *sqlx.Tx, id int64) error {
	for _, table := range []string{"employee_contacts", "schedule_slots", "absences"} {
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM `+table+` WHERE employee_id = ?`), id); err != nil {
			return formatError(err)
		}
	}
	return nil
}
