// Package store keeps crmsync's state in PostgreSQL (production) or an
// embedded SQLite file (first runs and tests), through one sqlx code path.
//
// Queries are written once with ? placeholders and rebound per dialect.
// Exported methods take the tenant id first: every query is tenant scoped.
// Driver errors are translated in one place, formatError, into the domain
// error kinds of package telephony.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (no cgo)

	"github.com/crmsync/crmsync/migrations"
)

func init() {
	// sqlx v1.4 knows "sqlite3" but not modernc's "sqlite".
	sqlx.BindDriver("sqlite", sqlx.QUESTION)
}

// DB is the store: a connection pool plus the dialect it speaks.
type DB struct {
	db      *sqlx.DB
	dialect migrations.Dialect
	sealer  *Sealer

	// Now returns the current time; tests replace it. Always UTC.
	Now func() time.Time
}

// Options configure Open.
type Options struct {
	// URL is postgres://… for PostgreSQL, or sqlite://PATH / a file path
	// for SQLite.
	URL string
	// Sealer encrypts secrets (OAuth tokens, signing secrets) at rest.
	Sealer *Sealer
	// Migrate applies pending migrations; without it Open refuses a stale
	// schema with a message naming `crmsync migrate`.
	Migrate bool
}

// Open connects, pings, and migrates or checks the schema.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if opts.Sealer == nil {
		return nil, errors.New("store: Open needs a Sealer")
	}
	driver, dsn, dialect, err := parseURL(opts.URL)
	if err != nil {
		return nil, err
	}
	sdb, err := sqlx.Open(driver, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dialect, err)
	}
	db := &DB{db: sdb, dialect: dialect, sealer: opts.Sealer, Now: func() time.Time { return time.Now().UTC() }}
	if dialect == migrations.SQLite {
		// One writer at a time is SQLite's model; a single connection
		// avoids SQLITE_BUSY between our own goroutines entirely.
		sdb.SetMaxOpenConns(1)
	}
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", dialect, err)
	}
	if opts.Migrate {
		err = migrations.Up(ctx, sdb.DB, dialect)
	} else {
		err = migrations.Check(ctx, sdb.DB, dialect)
	}
	if err != nil {
		sdb.Close()
		return nil, err
	}
	return db, nil
}

// parseURL picks the driver from the URL scheme.
func parseURL(raw string) (driver, dsn string, d migrations.Dialect, err error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"):
		return "pgx", raw, migrations.Postgres, nil
	case raw == "":
		return "", "", "", errors.New("store: empty database URL")
	}
	path := strings.TrimPrefix(raw, "sqlite://")
	if strings.Contains(path, "://") {
		return "", "", "", fmt.Errorf("store: unsupported database URL scheme in %q (want postgres:// or sqlite://)", redactURL(raw))
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", "", "", fmt.Errorf("store: create data dir: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Set("_txlock", "immediate")
	q.Set("_time_format", "sqlite")
	return "sqlite", "file:" + path + "?" + q.Encode(), migrations.SQLite, nil
}

// redactURL hides a password in a database URL for error messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// Close closes the pool.
func (db *DB) Close() error { return db.db.Close() }

// Dialect says which engine the store runs on.
func (db *DB) Dialect() migrations.Dialect { return db.dialect }

// Ping checks the connection and that the schema is current (for /readyz).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.db.PingContext(ctx); err != nil {
		return err
	}
	return migrations.Check(ctx, db.db.DB, db.dialect)
}

// SQL exposes the pool for tests and benchmarks that need raw access.
func (db *DB) SQL() *sqlx.DB { return db.db }

// inTx runs fn in a transaction, committing when it returns nil.
func (db *DB) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.db.BeginTxx(ctx, nil)
	if err != nil {
		return formatError(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := fn(tx); err != nil {
		return err
	}
	return formatError(tx.Commit())
}

// q rebinds a ?-placeholder query for the dialect.
func (db *DB) q(query string) string { return db.db.Rebind(query) }

// insertID runs an INSERT … RETURNING id and returns the id.
func insertID(ctx context.Context, ext sqlx.ExtContext, query string, args ...any) (int64, error) {
	var id int64
	err := sqlx.GetContext(ctx, ext, &id, ext.Rebind(query+" RETURNING id"), args...)
	return id, formatError(err)
}

// formatError translates driver errors into the domain's error kinds.
func formatError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return conflict(pgErr.ConstraintName, err)
	}
	// modernc: "constraint failed: UNIQUE constraint failed: employees.tenant_id, employees.email (2067)"
	if msg := err.Error(); strings.Contains(msg, "UNIQUE constraint failed: ") {
		cols := msg[strings.Index(msg, "UNIQUE constraint failed: ")+len("UNIQUE constraint failed: "):]
		if i := strings.Index(cols, " ("); i >= 0 {
			cols = cols[:i]
		}
		return conflict(sqliteIndexName(cols), err)
	}
	return err
}
