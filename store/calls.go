package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/migrations"
	"github.com/crmsync/crmsync/telephony"
)

// Calls and their event outbox (issue 7). Intake writes a batch of events
// and their calls in one transaction; the worker's delivery queries are in
// calls_delivery.go.
//
// store imports jobs for the call vocabulary (jobs.CallEvent, CallKey, …)
// that web, jobs and store share; it belongs in telephony (STYLE §3.1)
// and moves there as a whole when that package takes it.

// callRows bounds the rows of one multi-row statement: 8 columns × 500
// stays far under both engines' parameter limits.
const callRows = 500

// RecordCallEvents stores a batch of validated events: each call once in
// calls and each event once in call_events, in one transaction. An event
// whose (call, kind, seq) is already stored, or repeated in the batch, is a
// Duplicate and changes nothing; one naming an employee the tenant does not
// have is Rejected (and nothing of it stored). Recorded.Calls are the calls
// that got new events, each with the newest one's row id as generation.
func (db *DB) RecordCallEvents(ctx context.Context, tenantID int64, events []jobs.CallEvent) (jobs.Recorded, error) {
	rec := jobs.Recorded{Outcomes: make([]jobs.RecordOutcome, len(events)), Errors: map[int]*telephony.Error{}}
	if err := db.checkEmployees(ctx, tenantID, events, rec); err != nil {
		return jobs.Recorded{}, err
	}
	type item struct {
		i       int
		key     string
		payload []byte
	}
	var items []item
	first := map[string]bool{}
	callSet := map[string]bool{}
	for i, e := range events {
		if rec.Outcomes[i] == jobs.Rejected {
			continue
		}
		key := e.IdempotencyKey()
		if first[key] {
			rec.Outcomes[i] = jobs.Duplicate
			continue
		}
		first[key] = true
		b, err := json.Marshal(e)
		if err != nil {
			return jobs.Recorded{}, fmt.Errorf("record call events: %w", err)
		}
		items = append(items, item{i, key, b})
		callSet[e.CallID] = true
	}
	// One order for every writer, so concurrent batches never deadlock.
	calls := make([]string, 0, len(callSet))
	for id := range callSet {
		calls = append(calls, id)
	}
	slices.Sort(calls)
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.key, b.key) })

	rowOf := make(map[string]int64, len(calls))
	inserted := make(map[string]int64, len(items))
	now := db.Now()
	rows := make([]eventInsert, len(items))
	for i, it := range items {
		e := events[it.i]
		rows[i] = eventInsert{callID: e.CallID, kind: string(e.Kind), seq: e.Seq, key: it.key, payload: string(it.payload)}
	}
	var err error
	if db.dialect == migrations.Postgres && len(calls) <= callRows && len(items) <= callRows {
		err = db.insertEventsPG(ctx, tenantID, calls, rows, now, rowOf, inserted)
	} else {
		err = db.inTx(ctx, func(tx *sqlx.Tx) error { return insertEvents(ctx, tx, tenantID, calls, rows, now, rowOf, inserted) })
	}
	if err != nil {
		return jobs.Recorded{}, fmt.Errorf("record call events: %w", err)
	}
	gen := map[string]int64{}
	for _, it := range items {
		if id, ok := inserted[it.key]; ok {
			rec.Outcomes[it.i] = jobs.Accepted
			gen[events[it.i].CallID] = max(gen[events[it.i].CallID], id)
		} else {
			rec.Outcomes[it.i] = jobs.Duplicate
		}
	}
	for _, callID := range calls {
		if g, ok := gen[callID]; ok {
			rec.Calls = append(rec.Calls, jobs.CallKey{TenantID: tenantID, RowID: rowOf[callID], CallID: callID, Gen: g})
		}
	}
	return rec, nil
}

// eventInsert is one event row to insert.
type eventInsert struct {
	callID, kind, key, payload string
	seq                        int64
}

// insertEvents upserts the calls and inserts the events, in tx: one
// multi-row statement each per callRows. It fills rowOf (call id → row
// id) and inserted (idempotency key → event row id, new events only).
func insertEvents(ctx context.Context, tx *sqlx.Tx, tenantID int64, calls []string, rows []eventInsert, now time.Time,
	rowOf, inserted map[string]int64) error {
	for chunk := range slices.Chunk(calls, callRows) {
		q, args := values(`INSERT INTO calls (tenant_id, call_id, created_at, updated_at)`, 4, len(chunk),
			func(i int, args []any) []any { return append(args, tenantID, chunk[i], now, now) })
		q += ` ON CONFLICT (tenant_id, call_id) DO UPDATE SET updated_at = excluded.updated_at RETURNING id, call_id`
		if err := scanPairs(ctx, tx, q, args, func(id int64, callID string) { rowOf[callID] = id }); err != nil {
			return fmt.Errorf("upsert calls: %w", err)
		}
	}
	for chunk := range slices.Chunk(rows, callRows) {
		q, args := values(`INSERT INTO call_events (tenant_id, call_row_id, kind, seq, idempotency_key, payload,
			created_at, updated_at)`, 8, len(chunk), func(i int, args []any) []any {
			r := chunk[i]
			return append(args, tenantID, rowOf[r.callID], r.kind, r.seq, r.key, r.payload, now, now)
		})
		q += ` ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id, idempotency_key`
		if err := scanPairs(ctx, tx, q, args, func(id int64, key string) { inserted[key] = id }); err != nil {
			return fmt.Errorf("insert call events: %w", err)
		}
	}
	return nil
}

// insertEventsPG does what insertEvents does in one statement, atomic by
// itself: the calls upsert feeds the events insert through a
// data-modifying CTE, saving the transaction's extra round trips (intake
// is this path's hot spot).
func (db *DB) insertEventsPG(ctx context.Context, tenantID int64, calls []string, rows []eventInsert, now time.Time,
	rowOf, inserted map[string]int64) error {
	var b strings.Builder
	args := make([]any, 0, 3+len(calls)+5*len(rows))
	args = append(args, tenantID, now)
	b.WriteString(`WITH c AS (INSERT INTO calls (tenant_id, call_id, created_at, updated_at) SELECT $1::bigint, v.call_id, $2, $2
		FROM (VALUES `)
	for i, id := range calls {
		if i > 0 {
			b.WriteString(", ")
		}
		args = append(args, id)
		fmt.Fprintf(&b, "($%d::text)", len(args))
	}
	b.WriteString(`) AS v (call_id) ON CONFLICT (tenant_id, call_id) DO UPDATE SET updated_at = excluded.updated_at
		RETURNING id, call_id),
	e AS (INSERT INTO call_events (tenant_id, call_row_id, kind, seq, idempotency_key, payload, created_at, updated_at)
		SELECT $1::bigint, c.id, v.kind, v.seq, v.key, v.payload, $2, $2 FROM (VALUES `)
	for i, r := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		args = append(args, r.callID, r.kind, r.seq, r.key, r.payload)
		n := len(args)
		fmt.Fprintf(&b, "($%d::text, $%d::text, $%d::integer, $%d::text, $%d::text)", n-4, n-3, n-2, n-1, n)
	}
	b.WriteString(`) AS v (call_id, kind, seq, key, payload) JOIN c ON c.call_id = v.call_id
		ON CONFLICT (tenant_id, idempotency_key) DO NOTHING RETURNING id, idempotency_key)
	SELECT 'c', id, call_id FROM c UNION ALL SELECT 'e', id, idempotency_key FROM e`)
	qrows, err := db.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return formatError(err)
	}
	defer qrows.Close()
	for qrows.Next() {
		var which, s string
		var id int64
		if err := qrows.Scan(&which, &id, &s); err != nil {
			return err
		}
		if which == "c" {
			rowOf[s] = id
		} else {
			inserted[s] = id
		}
	}
	return formatError(qrows.Err())
}

// checkEmployees rejects events naming an employee id the tenant does not
// have (a deleted employee still counts: history keeps pointing at them).
func (db *DB) checkEmployees(ctx context.Context, tenantID int64, events []jobs.CallEvent, rec jobs.Recorded) error {
	var ids []int64
	for _, e := range events {
		if e.EmployeeID > 0 && !slices.Contains(ids, e.EmployeeID) {
			ids = append(ids, e.EmployeeID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	q, args, err := sqlx.In(`SELECT id FROM employees WHERE tenant_id = ? AND id IN (?)`, tenantID, ids)
	if err != nil {
		return err
	}
	var known []int64
	if err := db.db.SelectContext(ctx, &known, db.q(q), args...); err != nil {
		return fmt.Errorf("check employees: %w", formatError(err))
	}
	for i, e := range events {
		if e.EmployeeID > 0 && !slices.Contains(known, e.EmployeeID) {
			rec.Outcomes[i] = jobs.Rejected
			rec.Errors[i] = telephony.Errorf(telephony.EInvalid, "employee_id", "employee %d does not exist", e.EmployeeID)
		}
	}
	return nil
}

// values builds head VALUES (?, …), … for n rows of cols columns.
func values(head string, cols, n int, row func(i int, args []any) []any) (string, []any) {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var b strings.Builder
	b.Grow(len(head) + 8 + n*(len(tuple)+2))
	b.WriteString(head)
	b.WriteString(" VALUES ")
	args := make([]any, 0, n*cols)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(tuple)
		args = row(i, args)
	}
	return b.String(), args
}

// scanPairs runs a query returning (id, text) rows.
func scanPairs(ctx context.Context, tx *sqlx.Tx, query string, args []any, fn func(int64, string)) error {
	rows, err := tx.QueryContext(ctx, tx.Rebind(query), args...)
	if err != nil {
		return formatError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var s string
		if err := rows.Scan(&id, &s); err != nil {
			return err
		}
		fn(id, s)
	}
	return formatError(rows.Err())
}

// CallStatus returns the tenant's call callID (the PBX's id) with every
// event and its delivery, or ENotFound.
func (db *DB) CallStatus(ctx context.Context, tenantID int64, callID string) (jobs.CallStatus, error) {
	var id int64
	err := db.db.GetContext(ctx, &id, db.q(`SELECT id FROM calls WHERE tenant_id = ? AND call_id = ?`), tenantID, callID)
	if err = formatError(err); err == ErrNotFound {
		return jobs.CallStatus{}, notFound("call %q not found", callID)
	} else if err != nil {
		return jobs.CallStatus{}, fmt.Errorf("call %s: %w", callID, err)
	}
	ds, err := db.LoadCalls(ctx, []int64{id})
	if err != nil {
		return jobs.CallStatus{}, err
	}
	if len(ds) == 0 {
		return jobs.CallStatus{}, notFound("call %q not found", callID)
	}
	return jobs.NewCallStatus(ds[0]), nil
}

type callRow struct {
	ID          int64         `db:"id"`
	TenantID    int64         `db:"tenant_id"`
	CallID      string        `db:"call_id"`
	AccountID   sql.NullInt64 `db:"account_id"`
	EntityKind  string        `db:"entity_kind"`
	EntityID    string        `db:"entity_id"`
	Responsible string        `db:"responsible_crm_user"`
	CRMRef      string        `db:"crm_ref"`
	ResolvedAt  sql.NullTime  `db:"resolved_at"`
}

const callColumns = `id, tenant_id, call_id, account_id, entity_kind, entity_id, responsible_crm_user, crm_ref, resolved_at`

type eventRow struct {
	ID          int64        `db:"id"`
	CallRowID   int64        `db:"call_row_id"`
	Status      string       `db:"status"`
	Attempts    int          `db:"attempts"`
	LastError   string       `db:"last_error"`
	CRMRef      string       `db:"crm_ref"`
	Payload     string       `db:"payload"`
	CreatedAt   time.Time    `db:"created_at"`
	DeliveredAt sql.NullTime `db:"delivered_at"`
}

func (r callRow) delivery() jobs.CallDelivery {
	d := jobs.CallDelivery{RowID: r.ID, TenantID: r.TenantID, CallID: r.CallID, Ref: parseRef(r.CRMRef),
		Resolved: r.ResolvedAt.Valid && r.AccountID.Valid}
	d.Target = jobs.CallTarget{AccountID: r.AccountID.Int64, Responsible: r.Responsible}
	if r.EntityID != "" {
		d.Target.Entity = &connectors.EntityRef{Kind: connectors.EntityKind(r.EntityKind), ID: r.EntityID}
	}
	return d
}

func (r eventRow) event() (jobs.StoredEvent, error) {
	e := jobs.StoredEvent{ID: r.ID, Status: r.Status, Attempts: r.Attempts, LastError: r.LastError,
		Ref: parseRef(r.CRMRef), CreatedAt: r.CreatedAt.UTC()}
	if r.DeliveredAt.Valid {
		t := r.DeliveredAt.Time.UTC()
		e.DeliveredAt = &t
	}
	if err := json.Unmarshal([]byte(r.Payload), &e.Event); err != nil {
		return e, fmt.Errorf("call event %d: payload: %w", r.ID, err)
	}
	return e, nil
}

// parseRef reads a stored connectors.CallRef; "" is the zero ref.
func parseRef(s string) connectors.CallRef {
	var ref connectors.CallRef
	if s != "" {
		_ = json.Unmarshal([]byte(s), &ref) // written by refJSON only
	}
	return ref
}

// refJSON is the stored form of ref: "" for the zero ref.
func refJSON(ref connectors.CallRef) string {
	if ref.ID == "" && len(ref.Extra) == 0 {
		return ""
	}
	b, _ := json.Marshal(ref)
	return string(b)
}
