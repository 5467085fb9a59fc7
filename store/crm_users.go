package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/mapping"
)

// bulkRows is how many rows one multi-row statement carries: at most 9
// columns × 1000 rows stays far under both engines' parameter limits
// (PostgreSQL 65535, SQLite 32766).
const bulkRows = 1000

type crmUserRow struct {
	ID         int64  `db:"id"`
	ExternalID string `db:"external_id"`
	Name       string `db:"name"`
	Email      string `db:"email"`
	Phones     string `db:"phones"`
	Active     bool   `db:"active"`
	Gone       bool   `db:"gone"`
}

// phonesJSON encodes a CRM user's phones as stored: a JSON array, never null.
func phonesJSON(phones []string) string {
	if len(phones) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(phones)
	return string(b)
}

// dedupeUsers drops repeated ids, keeping the first (as mapping.Match does).
func dedupeUsers(users []mapping.CRMUser) []mapping.CRMUser {
	seen := make(map[string]bool, len(users))
	return slices.DeleteFunc(slices.Clone(users), func(u mapping.CRMUser) bool {
		dup := seen[u.ID]
		seen[u.ID] = true
		return dup || u.ID == ""
	})
}

// storeCRMUsers writes the listed users of an account: new and changed ones
// with multi-row upserts, unchanged ones not at all, and those missing from
// the list are marked gone. It returns the row id of every listed user by
// its CRM id. users must hold no repeated ids.
func storeCRMUsers(ctx context.Context, tx *sqlx.Tx, tenantID, accountID int64, users []mapping.CRMUser, now time.Time) (map[string]int64, error) {
	var rows []crmUserRow
	err := tx.SelectContext(ctx, &rows, tx.Rebind(`SELECT id, external_id, name, email, phones, active, gone
		FROM crm_users WHERE account_id = ?`), accountID)
	if err != nil {
		return nil, formatError(err)
	}
	stored := make(map[string]crmUserRow, len(rows))
	for _, r := range rows {
		stored[r.ExternalID] = r
	}
	ids := make(map[string]int64, len(users))
	var changed []mapping.CRMUser
	for _, u := range users {
		r, ok := stored[u.ID]
		if ok && !r.Gone && r.Name == u.Name && r.Email == u.Email && r.Active == u.Active && r.Phones == phonesJSON(u.Phones) {
			ids[u.ID] = r.ID
			continue
		}
		changed = append(changed, u)
	}
	err = bulkExec(ctx, tx, `INSERT INTO crm_users (tenant_id, account_id, external_id, name, email, phones, active, gone, updated_at)`,
		`ON CONFLICT (account_id, external_id) DO UPDATE SET name = excluded.name, email = excluded.email,
			phones = excluded.phones, active = excluded.active, gone = excluded.gone, updated_at = excluded.updated_at
		RETURNING id, external_id`,
		9, len(changed), func(i int, args []any) []any {
			u := changed[i]
			return append(args, tenantID, accountID, u.ID, u.Name, u.Email, phonesJSON(u.Phones), u.Active, false, now)
		}, func(rows *sqlx.Rows) error {
			var id int64
			var ext string
			if err := rows.Scan(&id, &ext); err != nil {
				return err
			}
			ids[ext] = id
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("store CRM users: %w", err)
	}
	var gone []int64
	for _, r := range rows {
		if _, listed := ids[r.ExternalID]; !listed && !r.Gone {
			gone = append(gone, r.ID)
		}
	}
	if err := execIn(ctx, tx, `UPDATE crm_users SET gone = ?, updated_at = ? WHERE id IN (?)`, gone, true, now); err != nil {
		return nil, fmt.Errorf("mark CRM users gone: %w", err)
	}
	return ids, nil
}

// bulkExec runs head VALUES (…), (…) tail for n rows in statements of
// bulkRows rows; row appends the cols values of row i to args. When scan is
// set the statement returns rows (tail has RETURNING) and scan reads each.
func bulkExec(ctx context.Context, tx *sqlx.Tx, head, tail string, cols, n int,
	row func(i int, args []any) []any, scan func(*sqlx.Rows) error) error {
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	for start := 0; start < n; start += bulkRows {
		end := min(start+bulkRows, n)
		var b strings.Builder
		b.Grow(len(head) + len(tail) + (end-start)*(len(tuple)+2) + 16)
		b.WriteString(head)
		b.WriteString(" VALUES ")
		args := make([]any, 0, (end-start)*cols)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			args = row(i, args)
		}
		b.WriteString(" ")
		b.WriteString(tail)
		query := tx.Rebind(b.String())
		if scan == nil {
			if _, err := tx.ExecContext(ctx, query, args...); err != nil {
				return formatError(err)
			}
			continue
		}
		rows, err := tx.QueryxContext(ctx, query, args...)
		if err != nil {
			return formatError(err)
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		if err := rows.Close(); err != nil {
			return formatError(err)
		}
		if err := rows.Err(); err != nil {
			return formatError(err)
		}
	}
	return nil
}

// execIn runs query, whose last placeholder is IN (?), once per chunk of
// ids, with args before the ids.
func execIn(ctx context.Context, tx *sqlx.Tx, query string, ids []int64, args ...any) error {
	for start := 0; start < len(ids); start += bulkRows {
		q, qargs, err := sqlx.In(query, append(slices.Clone(args), ids[start:min(start+bulkRows, len(ids))])...)
		if err != nil {
			return fmt.Errorf("build query: %w", err)
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(q), qargs...); err != nil {
			return formatError(err)
		}
	}
	return nil
}
