package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// Sync run statuses, as stored in sync_runs.status.
const (
	SyncRunning   = "running"
	SyncSucceeded = "succeeded"
	SyncFailed    = "failed"
	SyncSkipped   = "skipped"
)

// SyncRun is one user sync of an account.
type SyncRun struct {
	ID         int64
	AccountID  int64
	Status     string          // running | succeeded | failed | skipped
	Report     json.RawMessage // the sync report (see jobs.SyncReport)
	Error      string
	StartedAt  time.Time
	FinishedAt *time.Time
}

type syncRunRow struct {
	ID         int64      `db:"id"`
	AccountID  int64      `db:"account_id"`
	Status     string     `db:"status"`
	Report     string     `db:"report"`
	Error      string     `db:"error"`
	StartedAt  time.Time  `db:"started_at"`
	FinishedAt *time.Time `db:"finished_at"`
}

func (r syncRunRow) run() SyncRun {
	s := SyncRun{ID: r.ID, AccountID: r.AccountID, Status: r.Status, Report: json.RawMessage(r.Report),
		Error: r.Error, StartedAt: r.StartedAt.UTC()}
	if r.FinishedAt != nil {
		t := r.FinishedAt.UTC()
		s.FinishedAt = &t
	}
	return s
}

// StartSyncRun records a running sync of the tenant's account and returns
// the run's id and whether the account provisions employees. While another
// run of the account that started less than staleAfter ago is running it
// returns an EConflict error; older running runs are marked failed (their
// worker died without finishing them). It returns ENotFound for an account
// of another tenant.
func (db *DB) StartSyncRun(ctx context.Context, tenantID, accountID int64, staleAfter time.Duration) (int64, bool, error) {
	var id int64
	var provision bool
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		acct, err := db.lockAccount(ctx, tx, tenantID, accountID)
		if err != nil {
			return err
		}
		provision = acct.Provision
		now := db.Now()
		var running []syncRunRow
		err = tx.SelectContext(ctx, &running, tx.Rebind(`SELECT id, account_id, status, report, error, started_at, finished_at
			FROM sync_runs WHERE account_id = ? AND status = ?`), accountID, SyncRunning)
		if err != nil {
			return formatError(err)
		}
		for _, r := range running {
			if now.Sub(r.StartedAt) < staleAfter {
				return telephony.Errorf(telephony.EConflict, "", "sync run %d of CRM account %d is still running", r.ID, accountID)
			}
			_, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE sync_runs SET status = ?, error = ?, finished_at = ? WHERE id = ?`),
				SyncFailed, "abandoned: its worker stopped before finishing", now, r.ID)
			if err != nil {
				return formatError(err)
			}
		}
		id, err = insertID(ctx, tx, `INSERT INTO sync_runs (tenant_id, account_id, status, started_at) VALUES (?, ?, ?, ?)`,
			tenantID, accountID, SyncRunning, now)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("start sync of CRM account %d: %w", accountID, err)
	}
	return id, provision, nil
}

// FinishSyncRun ends a running sync run of the tenant with status, its JSON
// report and error text; a succeeded run also sets its account's
// last_sync_at. It returns ENotFound for an unknown or finished run.
func (db *DB) FinishSyncRun(ctx context.Context, tenantID, runID int64, status string, report json.RawMessage, errMsg string) error {
	if len(report) == 0 {
		report = json.RawMessage("{}")
	}
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		now := db.Now()
		res, err := tx.ExecContext(ctx, tx.Rebind(`UPDATE sync_runs SET status = ?, report = ?, error = ?, finished_at = ?
			WHERE tenant_id = ? AND id = ? AND status = ?`), status, string(report), errMsg, now, tenantID, runID, SyncRunning)
		if err != nil {
			return formatError(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return notFound("running sync run %d not found", runID)
		}
		if status != SyncSucceeded {
			return nil
		}
		_, err = tx.ExecContext(ctx, tx.Rebind(`UPDATE crm_accounts SET last_sync_at = ?, updated_at = ?
			WHERE id = (SELECT account_id FROM sync_runs WHERE id = ?)`), now, now, runID)
		return formatError(err)
	})
	if err != nil {
		return fmt.Errorf("finish sync run %d: %w", runID, err)
	}
	return nil
}

// SkipSyncRun records a sync of the tenant's account that did nothing, with
// why in its report. It returns ENotFound for an account of another tenant.
func (db *DB) SkipSyncRun(ctx context.Context, tenantID, accountID int64, report json.RawMessage) error {
	now := db.Now()
	res, err := db.db.ExecContext(ctx, db.q(`INSERT INTO sync_runs (tenant_id, account_id, status, report, started_at, finished_at)
		SELECT tenant_id, id, ?, ?, ?, ? FROM crm_accounts WHERE tenant_id = ? AND id = ?`),
		SyncSkipped, string(report), now, now, tenantID, accountID)
	if err != nil {
		return fmt.Errorf("record skipped sync of CRM account %d: %w", accountID, formatError(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("CRM account %d not found", accountID)
	}
	return nil
}

// SyncRuns lists the latest sync runs of the tenant's account, newest
// first, at most limit. It returns ENotFound for an account of another
// tenant.
func (db *DB) SyncRuns(ctx context.Context, tenantID, accountID int64, limit int) ([]SyncRun, error) {
	if _, err := db.Account(ctx, tenantID, accountID); err != nil {
		return nil, err
	}
	var rows []syncRunRow
	err := db.db.SelectContext(ctx, &rows, db.q(`SELECT id, account_id, status, report, error, started_at, finished_at
		FROM sync_runs WHERE tenant_id = ? AND account_id = ? ORDER BY id DESC LIMIT ?`), tenantID, accountID, limit)
	if err != nil {
		return nil, fmt.Errorf("list sync runs of CRM account %d: %w", accountID, formatError(err))
	}
	out := make([]SyncRun, len(rows))
	for i, r := range rows {
		out[i] = r.run()
	}
	return out, nil
}

// LastSyncReport returns the report of the latest succeeded sync of the
// tenant's account, or ENotFound when it has none.
func (db *DB) LastSyncReport(ctx context.Context, tenantID, accountID int64) (json.RawMessage, error) {
	var report string
	err := db.db.GetContext(ctx, &report, db.q(`SELECT report FROM sync_runs
		WHERE tenant_id = ? AND account_id = ? AND status = ? ORDER BY id DESC LIMIT 1`), tenantID, accountID, SyncSucceeded)
	if err = formatError(err); err == ErrNotFound {
		return nil, notFound("CRM account %d has no finished sync", accountID)
	} else if err != nil {
		return nil, err
	}
	return json.RawMessage(report), nil
}

// SyncableAccounts lists the connected accounts of every tenant, for the
// periodic sync schedule.
func (db *DB) SyncableAccounts(ctx context.Context) ([]Account, error) {
	var rows []accountRow
	err := db.db.SelectContext(ctx, &rows, db.q(`SELECT `+accountColumns+` FROM crm_accounts WHERE status = ? ORDER BY id`),
		connectors.StatusConnected)
	if err != nil {
		return nil, fmt.Errorf("list accounts to sync: %w", formatError(err))
	}
	out := make([]Account, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}
