// Package migrations holds the database schema as embedded SQL files, one
// folder per dialect with identical file names, and applies or checks them
// with goose.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// Dialect names the SQL engine a schema is for.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

//go:embed postgres/*.sql sqlite/*.sql
var files embed.FS

// ErrStale is returned by Check when migrations are pending.
var ErrStale = errors.New("database schema is out of date: run `crmsync migrate`")

// FS returns the migration files of one dialect.
func FS(d Dialect) (fs.FS, error) {
	switch d {
	case Postgres, SQLite:
		return fs.Sub(files, string(d))
	}
	return nil, fmt.Errorf("migrations: unknown dialect %q", d)
}

func provider(db *sql.DB, d Dialect) (*goose.Provider, error) {
	fsys, err := FS(d)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{goose.WithDisableGlobalRegistry(true)}
	gd := goose.DialectSQLite3
	if d == Postgres {
		gd = goose.DialectPostgres
		// Concurrent start-ups (several serve processes) take turns. goose
		// polls a held lock every 5 s by default; 1 s keeps a waiting
		// start-up (or a parallel test) from idling, within the same
		// 5-minute bound.
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 300))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	return goose.NewProvider(gd, db, fsys, opts...)
}

// Up applies every pending migration. It is safe to run twice and, on
// PostgreSQL, from several processes at once.
func Up(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := provider(db, d)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrations: up: %w", err)
	}
	return nil
}

// Check returns ErrStale when the database lacks migrations this binary has,
// so roles that do not migrate refuse to run on an old schema.
func Check(ctx context.Context, db *sql.DB, d Dialect) error {
	p, err := provider(db, d)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("migrations: check: %w", err)
	}
	if pending {
		return ErrStale
	}
	return nil
}

// Version returns the schema version the database is at and the newest one
// this binary knows.
func Version(ctx context.Context, db *sql.DB, d Dialect) (current, latest int64, err error) {
	p, err := provider(db, d)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: %w", err)
	}
	return p.GetVersions(ctx)
}
