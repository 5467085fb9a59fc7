package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/telephony"
)

type numberRow struct {
	ID        int64     `db:"id"`
	Number    string    `db:"number"`
	Label     string    `db:"label"`
	CreatedAt time.Time `db:"created_at"`
}

func (r numberRow) number() telephony.PhoneNumber {
	return telephony.PhoneNumber{ID: r.ID, Number: r.Number, Label: r.Label, CreatedAt: r.CreatedAt.UTC()}
}

// CreateNumber adds a DID to the tenant, in E.164 (read in the tenant's
// region). A number belongs to one tenant: when any tenant already has it,
// it returns an EConflict error on number that does not say which.
func (db *DB) CreateNumber(ctx context.Context, tenantID int64, in telephony.NumberInput) (telephony.PhoneNumber, error) {
	rules, err := db.rules(ctx, tenantID)
	if err != nil {
		return telephony.PhoneNumber{}, err
	}
	if in, err = in.Normalize(rules); err != nil {
		return telephony.PhoneNumber{}, err
	}
	var id int64
	err = db.inTx(ctx, func(tx *sqlx.Tx) error {
		now := db.Now()
		id, err = insertID(ctx, tx, `INSERT INTO phone_numbers (tenant_id, number, label, created_at) VALUES (?, ?, ?, ?)`,
			tenantID, in.Number, in.Label, now)
		if err != nil {
			return err
		}
		return audit(ctx, tx, now, tenantID, "api", "number.create", "phone_number", fmt.Sprint(id),
			auditDetail(map[string]any{"number": in.Number}))
	})
	if err != nil {
		return telephony.PhoneNumber{}, fmt.Errorf("create number: %w", err)
	}
	return db.number(ctx, tenantID, id)
}

func (db *DB) number(ctx context.Context, tenantID, id int64) (telephony.PhoneNumber, error) {
	var r numberRow
	err := db.db.GetContext(ctx, &r, db.q(`SELECT id, number, label, created_at FROM phone_numbers
		WHERE tenant_id = ? AND id = ?`), tenantID, id)
	if err = formatError(err); err == ErrNotFound {
		return telephony.PhoneNumber{}, notFound("number %d not found", id)
	}
	return r.number(), err
}

// Numbers lists the tenant's DIDs in number order.
func (db *DB) Numbers(ctx context.Context, tenantID int64) ([]telephony.PhoneNumber, error) {
	var rows []numberRow
	err := db.db.SelectContext(ctx, &rows, db.q(`SELECT id, number, label, created_at FROM phone_numbers
		WHERE tenant_id = ? ORDER BY number`), tenantID)
	if err != nil {
		return nil, fmt.Errorf("list numbers: %w", formatError(err))
	}
	out := make([]telephony.PhoneNumber, len(rows))
	for i, r := range rows {
		out[i] = r.number()
	}
	return out, nil
}

// DeleteNumber removes a DID from the tenant; ENotFound when it has no such
// number.
func (db *DB) DeleteNumber(ctx context.Context, tenantID, id int64) error {
	err := db.inTx(ctx, func(tx *sqlx.Tx) error {
		var number string
		err := tx.GetContext(ctx, &number, tx.Rebind(`SELECT number FROM phone_numbers WHERE tenant_id = ? AND id = ?`), tenantID, id)
		if err = formatError(err); err == ErrNotFound {
			return notFound("number %d not found", id)
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tx.Rebind(`DELETE FROM phone_numbers WHERE tenant_id = ? AND id = ?`), tenantID, id); err != nil {
			return formatError(err)
		}
		now := db.Now()
		return audit(ctx, tx, now, tenantID, "api", "number.delete", "phone_number", fmt.Sprint(id),
			auditDetail(map[string]any{"number": number}))
	})
	if err != nil {
		return fmt.Errorf("delete number %d: %w", id, err)
	}
	return nil
}

// TenantByNumber returns the tenant that owns the DID did (E.164), for
// routing an incoming call; ENotFound when no tenant has it.
func (db *DB) TenantByNumber(ctx context.Context, did string) (telephony.Tenant, error) {
	var r tenantRow
	err := db.db.GetContext(ctx, &r, db.q(`SELECT `+tenantColumns+` FROM tenants
		WHERE id = (SELECT tenant_id FROM phone_numbers WHERE number = ?)`), did)
	if err = formatError(err); err == ErrNotFound {
		return telephony.Tenant{}, notFound("no tenant has the number %s", did)
	} else if err != nil {
		return telephony.Tenant{}, fmt.Errorf("tenant by number: %w", err)
	}
	return r.tenant(), nil
}
