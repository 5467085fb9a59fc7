package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/migrations"
)

// What the worker reads and writes to deliver calls (jobs.CallStore). These
// methods take row ids from tasks that tenant-scoped code enqueued, so they
// are not tenant scoped themselves.

// in rebinds a query whose placeholders include IN (?) lists.
func (db *DB) in(query string, args ...any) (string, []any, error) {
	q, a, err := sqlx.In(query, args...)
	if err != nil {
		return "", nil, fmt.Errorf("build query: %w", err)
	}
	return db.q(q), a, nil
}

// LoadCalls returns the calls with the row ids, each with every event in
// delivery order; unknown ids are left out.
func (db *DB) LoadCalls(ctx context.Context, rowIDs []int64) ([]jobs.CallDelivery, error) {
	if len(rowIDs) == 0 {
		return nil, nil
	}
	q, args, err := db.in(`SELECT `+callColumns+` FROM calls WHERE id IN (?) ORDER BY id`, rowIDs)
	if err != nil {
		return nil, err
	}
	var calls []callRow
	if err := db.db.SelectContext(ctx, &calls, q, args...); err != nil {
		return nil, fmt.Errorf("load calls: %w", formatError(err))
	}
	q, args, err = db.in(`SELECT id, call_row_id, status, attempts, last_error, crm_ref, payload, created_at, delivered_at
		FROM call_events WHERE call_row_id IN (?) ORDER BY call_row_id, seq, id`, rowIDs)
	if err != nil {
		return nil, err
	}
	var events []eventRow
	if err := db.db.SelectContext(ctx, &events, q, args...); err != nil {
		return nil, fmt.Errorf("load call events: %w", formatError(err))
	}
	at := make(map[int64]int, len(calls))
	out := make([]jobs.CallDelivery, len(calls))
	for i, c := range calls {
		out[i], at[c.ID] = c.delivery(), i
	}
	for _, r := range events {
		e, err := r.event()
		if err != nil {
			return nil, err
		}
		i := at[r.CallRowID]
		out[i].Events = append(out[i].Events, e)
	}
	for i := range out {
		jobs.SortEvents(out[i].Events)
	}
	return out, nil
}

// SetCallTarget records the call's target unless one was recorded
// meanwhile, and returns the one that holds.
func (db *DB) SetCallTarget(ctx context.Context, rowID int64, t jobs.CallTarget) (jobs.CallTarget, error) {
	kind, id := "", ""
	if t.Entity != nil {
		kind, id = string(t.Entity.Kind), t.Entity.ID
	}
	now := db.Now()
	res, err := db.db.ExecContext(ctx, db.q(`UPDATE calls SET account_id = ?, entity_kind = ?, entity_id = ?,
		responsible_crm_user = ?, resolved_at = ?, updated_at = ? WHERE id = ? AND resolved_at IS NULL`),
		t.AccountID, kind, id, t.Responsible, now, now, rowID)
	if err != nil {
		return jobs.CallTarget{}, fmt.Errorf("set call target: %w", formatError(err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return t, nil
	}
	ds, err := db.LoadCalls(ctx, []int64{rowID})
	if err != nil {
		return jobs.CallTarget{}, err
	}
	if len(ds) == 0 {
		return jobs.CallTarget{}, notFound("call row %d not found", rowID)
	}
	return ds[0].Target, nil
}

// LinkedCRMUsers maps employees to the CRM users of the account they are
// linked to; unlinked employees are left out.
func (db *DB) LinkedCRMUsers(ctx context.Context, accountID int64, employeeIDs []int64) (map[int64]string, error) {
	out := map[int64]string{}
	if len(employeeIDs) == 0 {
		return out, nil
	}
	q, args, err := db.in(`SELECT l.employee_id, u.external_id FROM employee_links l JOIN crm_users u ON u.id = l.crm_user_id
		WHERE l.account_id = ? AND l.employee_id IN (?)`, accountID, employeeIDs)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		EmployeeID int64  `db:"employee_id"`
		CRMUserID  string `db:"external_id"`
	}
	if err := db.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("linked CRM users: %w", formatError(err))
	}
	for _, r := range rows {
		out[r.EmployeeID] = r.CRMUserID
	}
	return out, nil
}

// ClaimCalls takes the lease of the calls for owner until until: a free or
// lapsed lease, or owner's own. It returns the row ids it got.
func (db *DB) ClaimCalls(ctx context.Context, rowIDs []int64, owner string, until time.Time) ([]int64, error) {
	if len(rowIDs) == 0 {
		return nil, nil
	}
	q, args, err := db.in(`UPDATE calls SET lease_owner = ?, lease_until = ?
		WHERE id IN (?) AND (lease_until IS NULL OR lease_until < ? OR lease_owner = ?) RETURNING id`,
		owner, until.UTC(), rowIDs, db.Now(), owner)
	if err != nil {
		return nil, err
	}
	var got []int64
	if err := db.db.SelectContext(ctx, &got, q, args...); err != nil {
		return nil, fmt.Errorf("claim calls: %w", formatError(err))
	}
	return got, nil
}

// ClaimReadyCalls takes the lease of up to limit calls of the account that
// have pending events, a resolved target and a free lease, lowest row id
// first. The pending events are probed through call_events_pending_call.
// On PostgreSQL, rows another claimer is taking are skipped, so concurrent
// claimers get different calls; SQLite has one writer at a time anyway.
func (db *DB) ClaimReadyCalls(ctx context.Context, accountID int64, owner string, until time.Time, limit int) ([]int64, error) {
	lock := ""
	if db.dialect == migrations.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	now := db.Now()
	var got []int64
	err := db.db.SelectContext(ctx, &got, db.q(`UPDATE calls SET lease_owner = ?, lease_until = ? WHERE id IN (
			SELECT c.id FROM calls c
			WHERE c.id IN (SELECT e.call_row_id FROM call_events e WHERE e.status = ?)
			  AND c.account_id = ? AND c.resolved_at IS NOT NULL AND (c.lease_until IS NULL OR c.lease_until < ?)
			ORDER BY c.id LIMIT ?`+lock+`)
		AND (lease_until IS NULL OR lease_until < ?) RETURNING id`),
		owner, until.UTC(), jobs.EventPending, accountID, now, limit, now)
	if err != nil {
		return nil, fmt.Errorf("claim ready calls: %w", formatError(err))
	}
	slices.Sort(got)
	return got, nil
}

// ReleaseCalls gives up owner's leases on the calls.
func (db *DB) ReleaseCalls(ctx context.Context, rowIDs []int64, owner string) error {
	if len(rowIDs) == 0 {
		return nil
	}
	q, args, err := db.in(`UPDATE calls SET lease_owner = '', lease_until = NULL WHERE id IN (?) AND lease_owner = ?`,
		rowIDs, owner)
	if err != nil {
		return err
	}
	_, err = db.db.ExecContext(ctx, q, args...)
	return formatError(err)
}

// SaveDeliveries applies delivery attempts in one transaction: each call's
// record ref and columns as its events describe them (one statement for
// all calls), and each event's status (one statement per outcome). An
// attempt (pending or failed) counts in attempts; a delivered event is
// never set back.
func (db *DB) SaveDeliveries(ctx context.Context, updates []jobs.CallUpdate) error {
	now := db.Now()
	var calls []jobs.CallUpdate
	var events []jobs.EventUpdate
	for _, u := range updates {
		if u.State != nil || u.Ref != nil {
			calls = append(calls, u)
		}
		events = append(events, u.Events...)
	}
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		for chunk := range slices.Chunk(calls, callRows/2) {
			if err := db.saveCalls(ctx, tx, chunk, now); err != nil {
				return err
			}
		}
		return saveEvents(ctx, tx, events, now)
	})
	if err != nil {
		return fmt.Errorf("save deliveries: %w", err)
	}
	return nil
}

// saveCalls updates calls from a VALUES list: UPDATE … FROM works in both
// engines (SQLite 3.33+); PostgreSQL needs the values' types spelled out.
func (db *DB) saveCalls(ctx context.Context, tx *sqlx.Tx, calls []jobs.CallUpdate, now time.Time) error {
	tuple := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	if db.dialect == migrations.Postgres {
		tuple = "(?::bigint, ?, ?::boolean, ?, ?, ?, ?::timestamptz, ?::timestamptz, ?::timestamptz, ?::integer, " +
			"?::boolean, ?::bigint, ?, ?, ?, ?)"
	}
	var b strings.Builder
	b.WriteString(`WITH v (id, crm_ref, has_state, direction, caller, callee, started_at, answered_at, ended_at, duration_s,
		answered, answered_by_id, recording_url, category, value, comment) AS (VALUES `)
	args := make([]any, 0, len(calls)*16+1)
	for i, u := range calls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		ref := ""
		if u.Ref != nil {
			ref = refJSON(*u.Ref)
		}
		s := u.State
		if s == nil {
			s = &jobs.CallState{}
		}
		args = append(args, u.RowID, ref, u.State != nil, string(s.Direction), s.Caller, s.Callee, utcPtr(s.StartedAt),
			utcPtr(s.AnsweredAt), utcPtr(s.EndedAt), s.DurationS, s.Answered, nullEmployee(u.AnsweredByID), s.RecordingURL,
			s.Category, s.Value, s.Comment)
	}
	// Columns keep their value where the update has none (no state, or no
	// ref because the write failed).
	keep := func(col string) string {
		return col + " = CASE WHEN v.has_state THEN v." + col + " ELSE calls." + col + " END"
	}
	b.WriteString(`) UPDATE calls SET crm_ref = CASE WHEN v.crm_ref = '' THEN calls.crm_ref ELSE v.crm_ref END, `)
	for _, col := range []string{"direction", "caller", "callee", "started_at", "answered_at", "ended_at", "duration_s",
		"answered", "answered_by_id", "recording_url", "category", "value", "comment"} {
		b.WriteString(keep(col) + ", ")
	}
	b.WriteString(`updated_at = ? FROM v WHERE calls.id = v.id`)
	args = append(args, now)
	_, err := tx.ExecContext(ctx, tx.Rebind(b.String()), args...)
	return formatError(err)
}

// saveEvents updates events, one statement per distinct outcome. A
// delivered event's crm_ref holds only what its delivery added to the
// call's ref (follow-up task ids); the call's ref is on the call.
func saveEvents(ctx context.Context, tx *sqlx.Tx, events []jobs.EventUpdate, now time.Time) error {
	type outcome struct{ status, ref, err string }
	groups := map[outcome][]int64{}
	var order []outcome
	for _, e := range events {
		o := outcome{e.Status, refJSON(e.Ref), e.Error}
		if _, ok := groups[o]; !ok {
			order = append(order, o)
		}
		groups[o] = append(groups[o], e.ID)
	}
	for _, o := range order {
		var query string
		var args []any
		if o.status == jobs.EventDelivered {
			query = `UPDATE call_events SET status = ?, crm_ref = ?, last_error = '', delivered_at = ?, updated_at = ?
				WHERE id IN (?)`
			args = []any{o.status, o.ref, now, now, groups[o]}
		} else {
			query = `UPDATE call_events SET status = ?, attempts = attempts + 1, last_error = ?, updated_at = ?
				WHERE id IN (?) AND status <> ?`
			args = []any{o.status, o.err, now, groups[o], jobs.EventDelivered}
		}
		q, a, err := sqlx.In(query, args...)
		if err != nil {
			return fmt.Errorf("build query: %w", err)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(q), a...); err != nil {
			return formatError(err)
		}
	}
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// ParkCall parks the call's undelivered events behind accountID, which
// needs relinking, and notes the account on the call (its target stays
// unresolved: it is resolved again once the account is back).
func (db *DB) ParkCall(ctx context.Context, rowID, accountID int64, reason string) error {
	now := db.Now()
	return db.inTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE calls SET account_id = ?, updated_at = ? WHERE id = ?`), accountID, now, rowID)
		if err != nil {
			return formatError(err)
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE call_events SET status = ?, last_error = ?, updated_at = ?
			WHERE call_row_id = ? AND status IN (?, ?)`), jobs.EventParked, reason, now, rowID, jobs.EventPending, jobs.EventFailed)
		return formatError(err)
	})
}

// ParkAccount parks the undelivered events of every call of the account.
func (db *DB) ParkAccount(ctx context.Context, accountID int64, reason string) error {
	_, err := db.db.ExecContext(ctx, db.q(`UPDATE call_events SET status = ?, last_error = ?, updated_at = ?
		WHERE status IN (?, ?) AND call_row_id IN (SELECT id FROM calls WHERE account_id = ?)`),
		jobs.EventParked, reason, db.Now(), jobs.EventPending, jobs.EventFailed, accountID)
	if err != nil {
		return fmt.Errorf("park events of account %d: %w", accountID, formatError(err))
	}
	return nil
}

// ResumeParked makes pending again the parked events of calls whose
// account is connected again (or was unlinked: they are resolved anew),
// and returns those calls, each with its newest event as generation.
func (db *DB) ResumeParked(ctx context.Context) ([]jobs.CallKey, error) {
	var keys []callKeyRow
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		err := tx.SelectContext(ctx, &keys, tx.Rebind(`SELECT c.id AS call_row_id, c.tenant_id, c.call_id, MAX(e.id) AS gen
			FROM call_events e JOIN calls c ON c.id = e.call_row_id LEFT JOIN crm_accounts a ON a.id = c.account_id
			WHERE e.status = ? AND (a.id IS NULL OR a.status = ?)
			GROUP BY c.id, c.tenant_id, c.call_id ORDER BY c.id`), jobs.EventParked, "connected")
		if err != nil || len(keys) == 0 {
			return formatError(err)
		}
		rows := make([]int64, len(keys))
		for i, k := range keys {
			rows[i] = k.RowID
		}
		for chunk := range slices.Chunk(rows, callRows) {
			q, args, err := sqlx.In(`UPDATE call_events SET status = ?, last_error = '', updated_at = ?
				WHERE status = ? AND call_row_id IN (?)`, jobs.EventPending, db.Now(), jobs.EventParked, chunk)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, tx.Rebind(q), args...); err != nil {
				return formatError(err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("resume parked events: %w", err)
	}
	return callKeys(keys), nil
}

// StuckCalls returns calls with pending events that no task seems to
// hold: never attempted and received before fresh, or last attempted
// before retried, and not leased. At most limit, by row id after
// afterRowID; each with its newest such event as generation.
func (db *DB) StuckCalls(ctx context.Context, fresh, retried time.Time, afterRowID int64, limit int) ([]jobs.CallKey, error) {
	var keys []callKeyRow
	err := db.db.SelectContext(ctx, &keys, db.q(`SELECT c.id AS call_row_id, c.tenant_id, c.call_id, MAX(e.id) AS gen
		FROM call_events e JOIN calls c ON c.id = e.call_row_id
		WHERE e.status = ? AND ((e.attempts = 0 AND e.created_at < ?) OR (e.attempts > 0 AND e.updated_at < ?))
		  AND (c.lease_until IS NULL OR c.lease_until < ?) AND c.id > ?
		GROUP BY c.id, c.tenant_id, c.call_id ORDER BY c.id LIMIT ?`),
		jobs.EventPending, fresh.UTC(), retried.UTC(), db.Now(), afterRowID, limit)
	if err != nil {
		return nil, fmt.Errorf("stuck calls: %w", formatError(err))
	}
	return callKeys(keys), nil
}

// callKeyRow scans a jobs.CallKey.
type callKeyRow struct {
	RowID    int64  `db:"call_row_id"`
	TenantID int64  `db:"tenant_id"`
	CallID   string `db:"call_id"`
	Gen      int64  `db:"gen"`
}

func callKeys(rows []callKeyRow) []jobs.CallKey {
	out := make([]jobs.CallKey, len(rows))
	for i, r := range rows {
		out[i] = jobs.CallKey{TenantID: r.TenantID, RowID: r.RowID, CallID: r.CallID, Gen: r.Gen}
	}
	return out
}

// nullEmployee stores employee id 0 as NULL.
func nullEmployee(id int64) sql.NullInt64 { return sql.NullInt64{Int64: id, Valid: id != 0} }
