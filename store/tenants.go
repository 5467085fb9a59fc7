package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/telephony"
)

type tenantRow struct {
	ID                  int64     `db:"id"`
	Name                string    `db:"name"`
	Prefix              string    `db:"prefix"`
	Region              string    `db:"region"`
	TimeZone            string    `db:"timezone"`
	RouteOrder          string    `db:"route_order"`
	RouteDeadlineMS     int64     `db:"route_deadline_ms"`
	RouteFallback       string    `db:"route_fallback"`
	UnknownCallerAction string    `db:"unknown_caller_action"`
	MissedCallTask      bool      `db:"missed_call_task"`
	NotifyResponsible   bool      `db:"notify_responsible"`
	CreatedAt           time.Time `db:"created_at"`
}

const tenantColumns = `id, name, prefix, region, timezone, route_order, route_deadline_ms, route_fallback,
	unknown_caller_action, missed_call_task, notify_responsible, created_at`

func (r tenantRow) tenant() telephony.Tenant {
	return telephony.Tenant{
		ID: r.ID, Name: r.Name, Prefix: r.Prefix, Region: r.Region, TimeZone: r.TimeZone,
		Routing: telephony.Routing{
			Order:             strings.Split(r.RouteOrder, ","),
			Deadline:          telephony.Millis(r.RouteDeadlineMS),
			Fallback:          r.RouteFallback,
			UnknownCaller:     r.UnknownCallerAction,
			MissedCallTask:    r.MissedCallTask,
			NotifyResponsible: r.NotifyResponsible,
		},
		CreatedAt: r.CreatedAt.UTC(),
	}
}

// TenantCredentials are shown once, when a tenant is created: only their
// hashes (API key) or sealed form (signing secret) are stored.
type TenantCredentials struct {
	APIKey        string // Authorization: Bearer <APIKey>
	SigningSecret string // HMAC key for POST /api/v1/events
}

// CreateTenant validates and stores a tenant and returns it with its
// credentials. An empty prefix gets a free random five-digit one.
func (db *DB) CreateTenant(ctx context.Context, in telephony.NewTenant) (telephony.Tenant, TenantCredentials, error) {
	in, err := in.Normalize()
	if err != nil {
		return telephony.Tenant{}, TenantCredentials{}, err
	}
	creds := TenantCredentials{APIKey: "csk_" + randomToken(), SigningSecret: "css_" + randomToken()}
	routing := telephony.DefaultRouting()
	now := db.Now()
	for attempt := 0; ; attempt++ {
		prefix := in.Prefix
		if prefix == "" {
			prefix = randomPrefix()
		}
		id, err := insertID(ctx, db.db, `INSERT INTO tenants
			(name, prefix, region, timezone, api_key_hash, signing_secret_enc, route_order, route_deadline_ms,
			 route_fallback, unknown_caller_action, missed_call_task, notify_responsible, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.Name, prefix, in.Region, in.TimeZone, HashAPIKey(creds.APIKey),
			db.sealer.Seal([]byte(creds.SigningSecret), "tenants:signing_secret"),
			strings.Join(routing.Order, ","), int64(routing.Deadline), routing.Fallback, routing.UnknownCaller,
			routing.MissedCallTask, routing.NotifyResponsible, now, now)
		if telephony.ErrorCode(err) == telephony.EConflict && in.Prefix == "" && attempt < 10 {
			continue // a random prefix collided; draw another
		}
		if err != nil {
			return telephony.Tenant{}, TenantCredentials{}, fmt.Errorf("create tenant: %w", err)
		}
		t, err := db.Tenant(ctx, id)
		return t, creds, err
	}
}

// Tenant returns the tenant with id.
func (db *DB) Tenant(ctx context.Context, id int64) (telephony.Tenant, error) {
	var r tenantRow
	err := db.db.GetContext(ctx, &r, db.q(`SELECT `+tenantColumns+` FROM tenants WHERE id = ?`), id)
	if err = formatError(err); err == ErrNotFound {
		return telephony.Tenant{}, notFound("tenant %d not found", id)
	}
	return r.tenant(), err
}

// TenantByAPIKey returns the tenant whose API key is key.
func (db *DB) TenantByAPIKey(ctx context.Context, key string) (telephony.Tenant, error) {
	var r tenantRow
	err := db.db.GetContext(ctx, &r, db.q(`SELECT `+tenantColumns+` FROM tenants WHERE api_key_hash = ?`), HashAPIKey(key))
	if err = formatError(err); err == ErrNotFound {
		return telephony.Tenant{}, &telephony.Error{Code: telephony.EUnauthorized, Message: "unknown API key"}
	}
	return r.tenant(), err
}

// Tenants lists every tenant, oldest first (for `crmsync tenant list`).
func (db *DB) Tenants(ctx context.Context) ([]telephony.Tenant, error) {
	var rows []tenantRow
	if err := db.db.SelectContext(ctx, &rows, `SELECT `+tenantColumns+` FROM tenants ORDER BY id`); err != nil {
		return nil, formatError(err)
	}
	out := make([]telephony.Tenant, len(rows))
	for i, r := range rows {
		out[i] = r.tenant()
	}
	return out, nil
}

// SigningSecret returns the tenant's HMAC key for call events.
func (db *DB) SigningSecret(ctx context.Context, tenantID int64) (string, error) {
	var sealed []byte
	err := db.db.GetContext(ctx, &sealed, db.q(`SELECT signing_secret_enc FROM tenants WHERE id = ?`), tenantID)
	if err != nil {
		return "", formatError(err)
	}
	pt, err := db.sealer.Open(sealed, "tenants:signing_secret")
	return string(pt), err
}

// UpdateRouting validates and saves a tenant's routing settings.
func (db *DB) UpdateRouting(ctx context.Context, tenantID int64, r telephony.Routing) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := db.db.ExecContext(ctx, db.q(`UPDATE tenants SET route_order = ?, route_deadline_ms = ?,
		route_fallback = ?, unknown_caller_action = ?, missed_call_task = ?, notify_responsible = ?, updated_at = ?
		WHERE id = ?`),
		strings.Join(r.Order, ","), int64(r.Deadline), r.Fallback, r.UnknownCaller, r.MissedCallTask,
		r.NotifyResponsible, db.Now(), tenantID)
	return formatError(err)
}

// HashAPIKey returns the stored form of an API key. Keys are 256-bit random
// tokens, so a plain SHA-256 is enough (no password stretching needed).
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("store: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func randomPrefix() string {
	n, err := rand.Int(rand.Reader, big.NewInt(90000))
	if err != nil {
		panic("store: no randomness: " + err.Error())
	}
	return fmt.Sprint(10000 + n.Int64())
}

// audit writes one audit-log entry inside tx.
func audit(ctx context.Context, tx sqlx.ExtContext, now time.Time, tenantID int64, actor, action, subjectKind, subjectID, detail string) error {
	if detail == "" {
		detail = "{}"
	}
	_, err := tx.ExecContext(ctx, tx.Rebind(`INSERT INTO audit_log (tenant_id, actor, action, subject_kind, subject_id, detail, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), tenantID, actor, action, subjectKind, subjectID, detail, now)
	return formatError(err)
}
