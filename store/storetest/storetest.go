// Package storetest opens stores for tests: SQLite in a temporary directory
// always, and PostgreSQL in a schema of its own when
// CRMSYNC_TEST_POSTGRES_URL is set (required in CI).
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/store"
)

// Sealer returns the sealer test stores use.
func Sealer(tb testing.TB) *store.Sealer {
	tb.Helper()
	s, err := store.NewSealer("test secret key, not for production use")
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// MustOpenSQLite opens a migrated SQLite store in a temporary directory.
func MustOpenSQLite(tb testing.TB) *store.DB {
	tb.Helper()
	return mustOpen(tb, "sqlite://"+filepath.Join(tb.TempDir(), "crmsync.db"))
}

// MustOpenPostgres opens a migrated PostgreSQL store in a fresh schema. It
// skips when CRMSYNC_TEST_POSTGRES_URL is unset (and fails in CI).
func MustOpenPostgres(tb testing.TB) *store.DB {
	tb.Helper()
	return mustOpen(tb, testenv.PostgresDSN(tb))
}

// MustOpen opens PostgreSQL when configured, else SQLite: for tests that
// need a store but are not about the dialect.
func MustOpen(tb testing.TB) *store.DB {
	tb.Helper()
	if testenv.CI() || testenv.HasPostgres() {
		return MustOpenPostgres(tb)
	}
	return MustOpenSQLite(tb)
}

func mustOpen(tb testing.TB, url string) *store.DB {
	tb.Helper()
	db, err := store.Open(context.Background(), store.Options{URL: url, Sealer: Sealer(tb), Migrate: true})
	if err != nil {
		tb.Fatalf("open store: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// Each runs fn as a subtest once per dialect: "SQLite" always and
// "Postgres" when configured.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	t.Run("SQLite", func(t *testing.T) { fn(t, MustOpenSQLite(t)) })
	t.Run("Postgres", func(t *testing.T) { fn(t, MustOpenPostgres(t)) })
}
