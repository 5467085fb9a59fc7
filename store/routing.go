package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/migrations"
	"github.com/crmsync/crmsync/telephony"
)

// What the call router reads (telephony/routing loads a tenant's directory
// snapshot from Tenant, Employees, Departments, RoutingAccounts and
// RoutingLinks) and writes (the decisions it answered).

// RoutingAccounts lists the tenant's CRM accounts, oldest first, as the
// connector resolver sees them (disconnected and needs-relink ones too: the
// router says why it skips them).
func (db *DB) RoutingAccounts(ctx context.Context, tenantID int64) ([]connectors.Account, error) {
	var rows []struct {
		ID        int64  `db:"id"`
		Connector string `db:"connector"`
		BaseURL   string `db:"base_url"`
		Status    string `db:"status"`
	}
	err := db.db.SelectContext(ctx, &rows, db.q(`SELECT id, connector, base_url, status FROM crm_accounts
		WHERE tenant_id = ? ORDER BY id`), tenantID)
	if err != nil {
		return nil, fmt.Errorf("routing accounts: %w", formatError(err))
	}
	out := make([]connectors.Account, len(rows))
	for i, r := range rows {
		out[i] = connectors.Account{ID: r.ID, Connector: r.Connector, BaseURL: r.BaseURL, Status: r.Status}
	}
	return out, nil
}

// RoutingLinks returns every employee link of the tenant in one query, by
// account id: the CRM user's external id and the linked employee (0 for a
// manual "no employee"), with the rule that made the link. Links to deleted
// employees are left out.
func (db *DB) RoutingLinks(ctx context.Context, tenantID int64) (map[int64][]mapping.Link, error) {
	var rows []struct {
		AccountID  int64         `db:"account_id"`
		CRMUserID  string        `db:"external_id"`
		EmployeeID sql.NullInt64 `db:"employee_id"`
		Manual     bool          `db:"manual"`
		Rule       string        `db:"rule"`
		Confidence float64       `db:"confidence"`
	}
	err := db.db.SelectContext(ctx, &rows, db.q(`SELECT l.account_id, u.external_id, l.employee_id, l.manual, l.rule, l.confidence
		FROM employee_links l
		JOIN crm_users u ON u.id = l.crm_user_id
		LEFT JOIN employees e ON e.id = l.employee_id
		WHERE l.tenant_id = ? AND (l.employee_id IS NULL OR e.deleted_at IS NULL)
		ORDER BY l.account_id, u.external_id`), tenantID)
	if err != nil {
		return nil, fmt.Errorf("routing links: %w", formatError(err))
	}
	out := map[int64][]mapping.Link{}
	for _, r := range rows {
		out[r.AccountID] = append(out[r.AccountID], mapping.Link{
			CRMUserID: r.CRMUserID, EmployeeID: r.EmployeeID.Int64, Manual: r.Manual, Rule: r.Rule, Confidence: r.Confidence,
		})
	}
	return out, nil
}

// HookAccount returns the account a CRM webhook URL names and the tenant it
// belongs to. It is not tenant scoped (webhooks carry no API key); it
// returns ENotFound for an unknown id.
func (db *DB) HookAccount(ctx context.Context, id int64) (int64, connectors.Account, error) {
	var r struct {
		TenantID  int64  `db:"tenant_id"`
		Connector string `db:"connector"`
		BaseURL   string `db:"base_url"`
		Status    string `db:"status"`
	}
	err := db.db.GetContext(ctx, &r, db.q(`SELECT tenant_id, connector, base_url, status FROM crm_accounts WHERE id = ?`), id)
	if err = formatError(err); err == ErrNotFound {
		return 0, connectors.Account{}, notFound("CRM account %d not found", id)
	} else if err != nil {
		return 0, connectors.Account{}, fmt.Errorf("hook account: %w", err)
	}
	return r.TenantID, connectors.Account{ID: id, Connector: r.Connector, BaseURL: r.BaseURL, Status: r.Status}, nil
}

// HookAccountIDs returns the ids of the linked (not disconnected) accounts
// of connector whose CRM account id is externalID, in every tenant: an
// app-level webhook names the CRM's account, and several tenants may have
// linked the same one. Not tenant scoped, as HookAccount.
func (db *DB) HookAccountIDs(ctx context.Context, connector, externalID string) ([]int64, error) {
	var ids []int64
	err := db.db.SelectContext(ctx, &ids, db.q(`SELECT id FROM crm_accounts
		WHERE connector = ? AND external_id = ? AND status <> ? ORDER BY id`),
		connector, externalID, connectors.StatusDisconnected)
	if err != nil {
		return nil, fmt.Errorf("hook accounts: %w", formatError(err))
	}
	return ids, nil
}

// decisionBatch bounds the rows of one INSERT: 14 columns × 500 rows stays
// under both engines' parameter limits.
const decisionBatch = 500

// decisionColumns are route_decisions' columns as the router writes them,
// in the order of decisionRow.values.
var decisionColumns = []string{"tenant_id", "sip_call_id", "caller", "did", "account_id", "entity_kind",
	"entity_id", "crm_user_id", "employee_id", "outcome", "reason", "latency_us", "cache", "created_at"}

// RecordDecision keeps one routing decision answered for the SIP Call-ID
// sipCallID; see RecordDecisions.
func (db *DB) RecordDecision(ctx context.Context, d telephony.Decision, sipCallID string) error {
	return db.RecordDecisions(ctx, []telephony.CallDecision{{CallID: sipCallID, Decision: d}})
}

// RecordDecisions keeps the routing decisions of a batch. The first
// decision recorded for a (tenant, call id) wins, within the batch and
// across batches: a retransmitted INVITE answered again, or a decision
// recorded twice, is skipped. Decisions without a tenant (an unknown DID)
// or a call id are not kept. created_at is the time of the write (the
// router flushes every few hundred milliseconds). The batch is written
// whole or not at all; batch itself is not changed.
//
// On PostgreSQL the batch goes in with one COPY: the router records every
// call it answers, and at tens of thousands of calls a second a multi-row
// INSERT cost both processes far more (bind parameters encoded one by one,
// ON CONFLICT's speculative insertion; see BenchmarkDB_RecordDecisions).
// COPY has no ON CONFLICT, so a batch holding an already-recorded call
// fails as a whole on the unique (tenant_id, sip_call_id) index and is
// then written with INSERT … ON CONFLICT DO NOTHING, which skips that
// call. That happens only when an answer was lost and the PBX's
// retransmitted INVITE was answered in a later batch.
func (db *DB) RecordDecisions(ctx context.Context, batch []telephony.CallDecision) error {
	rows := decisionRows(batch)
	if len(rows) == 0 {
		return nil
	}
	now := db.Now()
	if db.dialect == migrations.Postgres {
		err := formatError(db.copyDecisions(ctx, rows, now))
		if telephony.ErrorCode(err) != telephony.EConflict {
			if err != nil {
				return fmt.Errorf("record routing decisions: %w", err)
			}
			return nil
		}
		// A call of the batch was recorded before: INSERT below skips it.
	}
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		for start := 0; start < len(rows); start += decisionBatch {
			if err := insertDecisions(ctx, tx, rows[start:min(start+decisionBatch, len(rows))], now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record routing decisions: %w", err)
	}
	return nil
}

// decisionRows are the decisions of batch worth keeping, ordered by
// (tenant, call id) and with the first decision per call only. The stable
// order also keeps concurrent batches from deadlocking on the index.
func decisionRows(batch []telephony.CallDecision) []*telephony.CallDecision {
	rows := make([]*telephony.CallDecision, 0, len(batch))
	for i := range batch {
		if c := &batch[i]; c.CallID != "" && c.Decision.TenantID != 0 {
			rows = append(rows, c)
		}
	}
	slices.SortStableFunc(rows, func(a, b *telephony.CallDecision) int {
		if c := cmp.Compare(a.Decision.TenantID, b.Decision.TenantID); c != 0 {
			return c
		}
		return strings.Compare(a.CallID, b.CallID)
	})
	return slices.CompactFunc(rows, func(a, b *telephony.CallDecision) bool {
		return a.Decision.TenantID == b.Decision.TenantID && a.CallID == b.CallID
	})
}

// copyDecisions writes rows with one COPY on a pgx connection taken from
// the pool (database/sql has no COPY).
func (db *DB) copyDecisions(ctx context.Context, rows []*telephony.CallDecision, now time.Time) error {
	conn, err := db.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		pc := driverConn.(*stdlib.Conn).Conn()
		_, err := pc.CopyFrom(ctx, pgx.Identifier{"route_decisions"}, decisionColumns,
			&decisionSource{rows: rows, now: now, i: -1})
		return err
	})
}

// decisionSource feeds rows to pgx's CopyFrom, one reused row of values at
// a time.
type decisionSource struct {
	rows []*telephony.CallDecision
	now  time.Time
	i    int
	row  [14]any
}

func (s *decisionSource) Next() bool { s.i++; return s.i < len(s.rows) }
func (s *decisionSource) Err() error { return nil }

func (s *decisionSource) Values() ([]any, error) {
	c := s.rows[s.i]
	s.row = decisionValues(c, s.now)
	return s.row[:], nil
}

// decisionValues are c's values for decisionColumns.
func decisionValues(c *telephony.CallDecision, now time.Time) [14]any {
	d := &c.Decision
	return [14]any{d.TenantID, c.CallID, d.Caller, d.DID, nullInt(d.AccountID), d.EntityKind, d.EntityID,
		d.CRMUserID, nullInt(d.EmployeeID), string(d.Outcome), d.Reason, d.Latency.Microseconds(), string(d.Cache), now}
}

// insertDecisions inserts rows, skipping the calls already recorded for
// their (tenant, call id).
func insertDecisions(ctx context.Context, tx *sqlx.Tx, rows []*telephony.CallDecision, now time.Time) error {
	if len(rows) == 0 {
		return nil
	}
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	query := make([]byte, 0, 256+len(rows)*(len(row)+2))
	query = append(query, "INSERT INTO route_decisions ("+strings.Join(decisionColumns, ", ")+") VALUES "...)
	args := make([]any, 0, len(rows)*len(decisionColumns))
	for i, c := range rows {
		if i > 0 {
			query = append(query, ", "...)
		}
		query = append(query, row...)
		v := decisionValues(c, now)
		args = append(args, v[:]...)
	}
	// The unique (tenant_id, sip_call_id) index keeps the first decision.
	query = append(query, " ON CONFLICT (tenant_id, sip_call_id) DO NOTHING"...)
	_, err := tx.ExecContext(ctx, tx.Rebind(string(query)), args...)
	return formatError(err)
}

// nullInt stores 0 as NULL.
func nullInt(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: v != 0} }

// DecisionByCallID returns the first decision recorded for the tenant's
// call sipCallID and when it was recorded; ENotFound when there is none.
// The decision has no Contacts, Fallback or Steps: they are not kept.
func (db *DB) DecisionByCallID(ctx context.Context, tenantID int64, sipCallID string) (telephony.Decision, time.Time, error) {
	var r struct {
		TenantID   int64         `db:"tenant_id"`
		Caller     string        `db:"caller"`
		DID        string        `db:"did"`
		AccountID  sql.NullInt64 `db:"account_id"`
		EntityKind string        `db:"entity_kind"`
		EntityID   string        `db:"entity_id"`
		CRMUserID  string        `db:"crm_user_id"`
		EmployeeID sql.NullInt64 `db:"employee_id"`
		Outcome    string        `db:"outcome"`
		Reason     string        `db:"reason"`
		LatencyUS  int64         `db:"latency_us"`
		Cache      string        `db:"cache"`
		CreatedAt  time.Time     `db:"created_at"`
	}
	err := db.db.GetContext(ctx, &r, db.q(`SELECT tenant_id, caller, did, account_id, entity_kind, entity_id, crm_user_id,
		employee_id, outcome, reason, latency_us, cache, created_at
		FROM route_decisions WHERE tenant_id = ? AND sip_call_id = ?`), tenantID, sipCallID)
	if err = formatError(err); err == ErrNotFound {
		return telephony.Decision{}, time.Time{}, notFound("no routing decision for call %q", sipCallID)
	} else if err != nil {
		return telephony.Decision{}, time.Time{}, fmt.Errorf("decision of call %s: %w", sipCallID, err)
	}
	return telephony.Decision{
		Outcome: telephony.Outcome(r.Outcome), Reason: r.Reason,
		TenantID: r.TenantID, Caller: r.Caller, DID: r.DID, AccountID: r.AccountID.Int64,
		EntityKind: r.EntityKind, EntityID: r.EntityID, CRMUserID: r.CRMUserID, EmployeeID: r.EmployeeID.Int64,
		Cache: telephony.Cache(r.Cache), Latency: time.Duration(r.LatencyUS) * time.Microsecond,
	}, r.CreatedAt.UTC(), nil
}
