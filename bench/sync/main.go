// Command sync benchmarks a CRM user sync end to end: 10,000 users served
// by the amoCRM fake over HTTP, 10,000 employees in PostgreSQL, through the
// production resolver, transport, handler and store. Each sync runs in a
// child process so its wall time and peak RSS are its own:
//
//	CRMSYNC_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
//	  go run ./bench/sync [-n 10000]
//
// It runs three syncs: cold (every user and link is new), steady (nothing
// changed: the periodic case) and churn (1% of users deactivated, 1% new),
// prints one line each, and exits 1 when a sync misses the budget (5 s,
// 100 MB RSS) or reports other counts than the scenario promises. It works
// in a schema of its own, dropped at the end.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	_ "github.com/crmsync/crmsync/connectors/amocrm"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/jobs/jobstest"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony"
)

// Budget per sync.
const (
	maxWall = 5 * time.Second
	maxRSS  = 100 << 20
)

// result is what the child prints.
type result struct {
	WallMS     int64 `json:"wall_ms"`
	VmHWMKB    int64 `json:"vm_hwm_kb"`
	Fetched    int   `json:"fetched"`
	Email      int   `json:"email"`
	Name       int   `json:"name"`
	Ambiguous  int   `json:"ambiguous"`
	Unmatched  int   `json:"unmatched"`
	Unlinked   int   `json:"unlinked"`
	Status     string
	Error      string
	MaxRSSKB   int64 `json:"-"` // the parent's view, from rusage
	ParentWall time.Duration
}

func main() {
	child := flag.Bool("child", false, "run one sync (internal)")
	n := flag.Int("n", 10000, "CRM users and employees (a multiple of 20)")
	dsn := flag.String("postgres", os.Getenv("CRMSYNC_TEST_POSTGRES_URL"), "PostgreSQL URL (default $CRMSYNC_TEST_POSTGRES_URL)")
	baseURL := flag.String("crm", "", "fake CRM URL (internal)")
	tenant := flag.Int64("tenant", 0, "tenant id (internal)")
	account := flag.Int64("account", 0, "account id (internal)")
	flag.Parse()
	var err error
	if *child {
		err = runChild(*dsn, *baseURL, *tenant, *account)
	} else {
		err = runParent(*dsn, *n)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/sync:", err)
		os.Exit(1)
	}
}

func sealer() *store.Sealer {
	s, err := store.NewSealer("bench secret key, not for production use")
	if err != nil {
		panic(err)
	}
	return s
}

// runChild syncs the account once and prints a result.
func runChild(dsn, baseURL string, tenantID, accountID int64) error {
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{URL: dsn, Sealer: sealer()})
	if err != nil {
		return err
	}
	defer db.Close()
	h := &jobs.Handler{
		Connections: &connectors.Resolver{Accounts: db, OAuth: map[string]*oauth2.Config{"amocrm": amocrmtest.Config(baseURL)}},
		Syncs:       db,
	}
	task, err := jobs.NewSyncUsersTask(jobs.SyncUsersPayload{TenantID: tenantID, AccountID: accountID}, time.Now())
	if err != nil {
		return err
	}
	start := time.Now()
	err = h.ProcessSyncUsers(ctx, task)
	r := result{WallMS: time.Since(start).Milliseconds(), VmHWMKB: vmHWM()}
	if err != nil {
		r.Error = err.Error()
	}
	runs, err := db.SyncRuns(ctx, tenantID, accountID, 1)
	if err != nil || len(runs) == 0 {
		return fmt.Errorf("read run: %v", err)
	}
	var rep jobs.SyncReport
	if err := json.Unmarshal(runs[0].Report, &rep); err != nil {
		return err
	}
	r.Status, r.Fetched, r.Email, r.Name = runs[0].Status, rep.Fetched, rep.Matched.Email, rep.Matched.Name
	r.Ambiguous, r.Unmatched, r.Unlinked = len(rep.Ambiguous), rep.Unmatched, len(rep.Unlinked)
	return json.NewEncoder(os.Stdout).Encode(r)
}

// vmHWM reads the process's peak resident set from /proc.
func vmHWM() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb
		}
	}
	return -1
}

func runParent(dsn string, n int) error {
	if dsn == "" {
		return fmt.Errorf("set CRMSYNC_TEST_POSTGRES_URL or -postgres to a PostgreSQL URL")
	}
	if n <= 0 || n%20 != 0 {
		return fmt.Errorf("-n must be a positive multiple of 20")
	}
	ctx := context.Background()
	schemaDSN, drop, err := freshSchema(ctx, dsn)
	if err != nil {
		return err
	}
	defer drop()
	db, err := store.Open(ctx, store.Options{URL: schemaDSN, Sealer: sealer(), Migrate: true})
	if err != nil {
		return err
	}
	defer db.Close()

	scenario := jobstest.Scenario{N: n}
	backend := connectortest.NewBackend()
	users := scenario.Users()
	backend.AddUsers(users...)
	amo := amocrmtest.NewServer(backend)
	defer amo.Close()
	tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Bench", Prefix: "19079", Region: "UA"})
	if err != nil {
		return err
	}
	acct, err := db.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: "amocrm", Name: "bench", ExternalID: "1",
		BaseURL: amo.URL, Token: amo.IssueToken(time.Now().Add(24 * time.Hour))})
	if err != nil {
		return err
	}
	seedStart := time.Now()
	if err := scenario.SeedEmployees(ctx, db, tn.ID, tn.Prefix); err != nil {
		return err
	}
	fmt.Printf("seeded %d employees in %s; budget per sync: %s, %d MB RSS\n", n, time.Since(seedStart).Round(time.Millisecond), maxWall, maxRSS>>20)
	fmt.Printf("%-7s %8s %9s %8s  %s\n", "sync", "wall", "peak RSS", "fetched", "email/name/ambiguous/unmatched/unlinked")

	w := scenario.Want()
	failed := false
	for _, phase := range []string{"cold", "steady", "churn"} {
		wantUnlinked := 0
		if phase == "churn" {
			// 1% of the email-linked users leave, 1% new users arrive.
			churned := append([]connectors.User(nil), users...)
			for i := 0; i < n/100; i++ {
				churned[i*20].Active = false
				churned = append(churned, connectors.User{ID: fmt.Sprint(900000 + i), Name: fmt.Sprintf("New User %d", i),
					Email: fmt.Sprintf("new%d@other.example", i), Active: true})
			}
			next := connectortest.NewBackend()
			next.AddUsers(churned...)
			amo.Handler.Backend = next // between syncs: no request in flight
			w = jobstest.Want{Fetched: n + n/100, Email: w.Email - n/100, Name: w.Name, Ambiguous: w.Ambiguous, Unmatched: w.Unmatched + n/100}
			wantUnlinked = n / 100
		}
		r, err := runOne(schemaDSN, amo.URL, tn.ID, acct.ID)
		if err != nil {
			return err
		}
		ok := r.Status == "succeeded" && r.Fetched == w.Fetched && r.Email == w.Email && r.Name == w.Name &&
			r.Ambiguous == w.Ambiguous && r.Unmatched == w.Unmatched && r.Unlinked == wantUnlinked
		within := time.Duration(r.WallMS)*time.Millisecond < maxWall && r.MaxRSSKB<<10 < maxRSS
		mark := "ok"
		if !ok || !within {
			mark, failed = "FAIL", true
		}
		fmt.Printf("%-7s %7.2fs %6.1f MB %8d  %d/%d/%d/%d/%d  %s %s\n", phase, float64(r.WallMS)/1000, float64(r.MaxRSSKB)/1024,
			r.Fetched, r.Email, r.Name, r.Ambiguous, r.Unmatched, r.Unlinked, mark, r.Error)
	}
	if failed {
		return fmt.Errorf("a sync missed its budget or its expected counts")
	}
	return nil
}

// runOne runs one sync in a child process and adds its peak RSS.
func runOne(dsn, crmURL string, tenantID, accountID int64) (result, error) {
	exe, err := os.Executable()
	if err != nil {
		return result{}, err
	}
	cmd := exec.Command(exe, "-child", "-postgres", dsn, "-crm", crmURL,
		"-tenant", fmt.Sprint(tenantID), "-account", fmt.Sprint(accountID))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("child: %v\n%s", err, errOut.String())
	}
	var r result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return result{}, fmt.Errorf("child printed %q: %v", out.String(), err)
	}
	r.ParentWall = time.Since(start)
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSSKB = ru.Maxrss // kilobytes on Linux
	}
	return r, nil
}

// freshSchema creates a schema of its own and returns a DSN whose
// search_path is it, and a func that drops it.
func freshSchema(ctx context.Context, dsn string) (string, func(), error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "bench_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create schema: %w", err)
	}
	drop := func() {
		admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") //nolint:errcheck
		admin.Close()
	}
	u, err := url.Parse(dsn)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
