package migrations_test

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jmoiron/sqlx"
	_ "modernc.org/sqlite"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/migrations"
)

func names(t *testing.T, d migrations.Dialect) []string {
	t.Helper()
	fsys, err := migrations.FS(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestDialectsHaveSameFiles(t *testing.T) {
	pg, lite := names(t, migrations.Postgres), names(t, migrations.SQLite)
	if len(pg) == 0 {
		t.Fatal("no migrations embedded")
	}
	if diff := cmp.Diff(pg, lite); diff != "" {
		t.Errorf("postgres and sqlite migrations differ (-postgres +sqlite):\n%s", diff)
	}
}

func testUpTwiceAndCheck(t *testing.T, db *sqlx.DB, d migrations.Dialect) {
	ctx := context.Background()
	if err := migrations.Check(ctx, db.DB, d); !errors.Is(err, migrations.ErrStale) {
		t.Fatalf("Check on an empty database = %v, want ErrStale", err)
	}
	for i := 0; i < 2; i++ {
		if err := migrations.Up(ctx, db.DB, d); err != nil {
			t.Fatalf("Up #%d: %v", i+1, err)
		}
	}
	if err := migrations.Check(ctx, db.DB, d); err != nil {
		t.Fatalf("Check after Up: %v", err)
	}
	cur, latest, err := migrations.Version(ctx, db.DB, d)
	if err != nil || cur != latest || cur == 0 {
		t.Fatalf("Version = %d, %d, %v; want equal and non-zero", cur, latest, err)
	}
}

func TestUp_SQLite(t *testing.T) {
	db, err := sqlx.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testUpTwiceAndCheck(t, db, migrations.SQLite)
}

func TestUp_Postgres(t *testing.T) {
	db, err := sqlx.Open("pgx", testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testUpTwiceAndCheck(t, db, migrations.Postgres)
}
