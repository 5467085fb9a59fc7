package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/telephony"
)

// runDemo runs a Main with the demo seeded first and the worker (for the
// first sync), and returns it with what the demo printed.
func runDemo(t *testing.T, cfg config.Config) (*Main, string) {
	t.Helper()
	var out bytes.Buffer
	demo := role{name: "demo", open: func(ctx context.Context, m *Main) error { return m.seedDemoTo(ctx, &out) }}
	m := &Main{Config: cfg, Roles: []role{demo, roleWorker}, Migrate: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Run(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, out.String()
}

func demoConfig(t *testing.T) config.Config {
	cfg := config.Default()
	cfg.HTTPAddr = "127.0.0.1:18080"
	cfg.BaseURL = "http://127.0.0.1:18080"
	cfg.DataDir = t.TempDir()
	cfg.RedisURL = testenv.RedisURL(t)
	cfg.SecretKey = config.Secret(strings.Repeat("k", 32))
	if testenv.HasPostgres() || testenv.CI() {
		cfg.DatabaseURL = testenv.PostgresDSN(t)
	}
	return cfg
}

var printedPassword = regexp.MustCompile(`administrator\s+(\S+) \(or \S+\)\s+password (\S+)`)

func TestDemo_Seed(t *testing.T) {
	ctx := context.Background()
	cfg := demoConfig(t)
	m, out := runDemo(t, cfg)
	closed := false
	defer func() {
		if !closed {
			m.Close()
		}
	}()
	for _, want := range []string{"/login", "export CRMSYNC_KEY=csk_", "export CRMSYNC_SIGNING_SECRET=", "sipp -sf ",
		"/api/v1/route?caller=%2B380671234567&did=%2B380442270000", "X-Crmsync-Signature: sha256=$SIG", "/api/v1/events"} {
		if !strings.Contains(out, want) {
			t.Errorf("the demo's instructions lack %q:\n%s", want, out)
		}
	}
	tenants, err := m.DB.Tenants(ctx)
	if err != nil || len(tenants) != 1 {
		t.Fatalf("tenants: %v %v", tenants, err)
	}
	tn := tenants[0]
	emps, err := m.DB.Employees(ctx, tn.ID, telephony.EmployeeFilter{})
	if err != nil || len(emps) != 5 {
		t.Fatalf("employees: %d %v", len(emps), err)
	}
	byName := map[string]telephony.Employee{}
	for _, e := range emps {
		byName[e.FullName] = e
	}
	if len(byName["Maria Shevchenko"].Schedule) != 5 {
		t.Errorf("Maria's schedule: %+v", byName["Maria Shevchenko"].Schedule)
	}
	petro := byName["Petro Bondar"]
	if len(petro.Absences) != 1 || petro.Absences[0].Redirect == nil || petro.Absences[0].Redirect.ID != byName["Ivan Petrenko"].ID ||
		!petro.Absences[0].StartsAt.Before(time.Now()) || !petro.Absences[0].EndsAt.After(time.Now()) {
		t.Errorf("Petro's absence: %+v", petro.Absences)
	}
	checkPassword(t, m, out)

	// The first sync runs in the worker and fills the mapping.
	accts, err := m.DB.Accounts(ctx, tn.ID)
	if err != nil || len(accts) != 1 || accts[0].Status != connectors.StatusConnected {
		t.Fatalf("accounts: %+v %v", accts, err)
	}
	states := map[string]string{}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		links, err := m.DB.AccountLinks(ctx, tn.ID, accts[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range links {
			states[l.CRMUserID] = l.Rule
		}
		if len(links) == 8 {
			break
		}
		time.Sleep(100 * time.Millisecond) // polling the store with a deadline
	}
	for id, rule := range map[string]string{"1": "email", "2": "name", "3": "name", "4": "email", "5": "", "7": ""} {
		if states[id] != rule {
			t.Errorf("CRM user %s linked by %q, want %q (all: %v)", id, states[id], rule, states)
		}
	}

	// The sandbox's consent page and token endpoint run a real OAuth link.
	sb := m.demo
	if sb == nil {
		t.Fatal("no sandbox registered for the Main")
	}
	testSandboxOAuth(t, sb)

	// A second run on the same data finds everything and changes nothing
	// but the passwords and the sandbox's address.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	m2, out2 := runDemo(t, cfg)
	defer m2.Close()
	tenants, _ = m2.DB.Tenants(ctx)
	emps, _ = m2.DB.Employees(ctx, tn.ID, telephony.EmployeeFilter{})
	accts, _ = m2.DB.Accounts(ctx, tn.ID)
	if len(tenants) != 1 || len(emps) != 5 || len(accts) != 1 || accts[0].BaseURL != m2.demo.URL {
		t.Errorf("after a second run: %d tenants, %d employees, accounts %+v", len(tenants), len(emps), accts)
	}
	checkPassword(t, m2, out2)
	if resp, err := http.Get(m.demo.URL + "/"); err == nil {
		resp.Body.Close()
		t.Error("the first Main's sandbox still answers after Close")
	}
}

// checkPassword signs in as the printed administrator.
func checkPassword(t *testing.T, m *Main, out string) {
	t.Helper()
	match := printedPassword.FindStringSubmatch(out)
	if match == nil {
		t.Fatalf("no administrator printed:\n%s", out)
	}
	logins, err := m.DB.AdminLogins(context.Background(), match[1])
	if err != nil || len(logins) != 1 || logins[0].Role != telephony.RoleAdministrator {
		t.Fatalf("admin logins %q: %+v %v", match[1], logins, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(logins[0].PasswordHash), []byte(match[2])) != nil {
		t.Errorf("the printed password does not sign %s in", match[1])
	}
}

func testSandboxOAuth(t *testing.T, sb *demoSandbox) {
	t.Helper()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(sb.URL + "/oauth?client_id=" + amocrmtest.ClientID + "&state=st&redirect_uri=x&allow=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || back.Query().Get("state") != "st" || back.Query().Get("code") == "" ||
		"http://"+back.Query().Get("referer") != sb.URL || !strings.HasPrefix(back.String(), sb.callback) {
		t.Fatalf("consent: %d → %s", resp.StatusCode, back)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {back.Query().Get("code")}, "redirect_uri": {sb.callback},
		"client_id": {amocrmtest.ClientID}, "client_secret": {amocrmtest.ClientSecret}}
	resp, err = http.PostForm(sb.URL+"/oauth2/access_token", form)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"account_id":"demo-sandbox"`) || !strings.Contains(string(b), "access_token") {
		t.Fatalf("token: %d %s", resp.StatusCode, b)
	}
	resp, err = http.PostForm(sb.URL+"/oauth2/access_token", form) // the code works once
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Error("the sandbox exchanged a code twice")
	}
	resp, err = http.Get(sb.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "Acme renewal 2026") || !strings.Contains(string(b), "Former Manager") {
		t.Errorf("sandbox home: %s", b)
	}
}

func TestDemoFlag(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	on := demoFlag(fs)
	if err := fs.Parse([]string{"--demo"}); err != nil || !*on {
		t.Fatalf("--demo: %v %v", *on, err)
	}
}
