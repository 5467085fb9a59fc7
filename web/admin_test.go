package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	_ "github.com/crmsync/crmsync/connectors/all" // amocrm, hubspot, pipedrive
	"github.com/crmsync/crmsync/internal/webstore"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

// adminPassword is every test employee's password.
const adminPassword = "correct horse battery"

// adminEnv is a server with the admin pages over a real store. Tenant A
// (prefix 19079, DID +380441234567) has an administrator, a department head
// of Sales with one Sales employee, and a user; tenant B an administrator.
// Each tenant has an amoCRM account whose CRM users were synced.
type adminEnv struct {
	t        *testing.T
	db       *store.DB
	server   *web.Server
	srv      *httptest.Server
	a, b     telephony.Tenant
	sales    telephony.Department
	admin    telephony.Employee // tenant A
	head     telephony.Employee // tenant A, Sales
	seller   telephony.Employee // tenant A, Sales
	user     telephony.Employee // tenant A
	adminB   telephony.Employee
	accountA int64
	accountB int64
	syncer   *adminSyncer
	router   *fakeRouter
	inv      *fakeInvalidator
}

// adminSyncer records queued syncs.
type adminSyncer struct {
	mu       sync.Mutex
	accounts []int64
}

func (s *adminSyncer) EnqueueSync(_ context.Context, _, accountID int64) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts = append(s.accounts, accountID)
	return fmt.Sprintf("sync:%d", accountID), nil
}

func (s *adminSyncer) queued() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.accounts...)
}

// eachAdminEnv runs fn against SQLite and, when configured, PostgreSQL;
// configure may change the server before it starts.
func eachAdminEnv(t *testing.T, configure func(*web.Server), fn func(t *testing.T, e *adminEnv)) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fn(t, newAdminEnv(t, db, configure))
	})
}

func newAdminEnv(t *testing.T, db *store.DB, configure func(*web.Server)) *adminEnv {
	t.Helper()
	ctx := context.Background()
	e := &adminEnv{t: t, db: db, syncer: &adminSyncer{}, router: &fakeRouter{}, inv: &fakeInvalidator{}}
	var err error
	mustTenant := func(prefix string) telephony.Tenant {
		tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Tenant " + prefix, Prefix: prefix, Region: "UA", TimeZone: "Europe/Kyiv"})
		if err != nil {
			t.Fatal(err)
		}
		return tn
	}
	e.a, e.b = mustTenant("19079"), mustTenant("20000")
	if e.sales, err = db.CreateDepartment(ctx, e.a.ID, telephony.DepartmentInput{Name: "Sales"}); err != nil {
		t.Fatal(err)
	}
	e.admin = e.mustEmployee(e.a.ID, "Olena Admin", "olena@a.example.com", telephony.RoleAdministrator, nil)
	e.head = e.mustEmployee(e.a.ID, "Petro Head", "petro@a.example.com", telephony.RoleDepartmentHead, &e.sales.ID)
	e.seller = e.mustEmployee(e.a.ID, "Ivan Seller", "ivan@a.example.com", telephony.RoleUser, &e.sales.ID)
	e.user = e.mustEmployee(e.a.ID, "Taras User", "taras@a.example.com", telephony.RoleUser, nil)
	e.adminB = e.mustEmployee(e.b.ID, "Bohdan Admin", "bohdan@b.example.com", telephony.RoleAdministrator, nil)
	if _, err := db.CreateNumber(ctx, e.a.ID, telephony.NumberInput{Number: "+380441234567"}); err != nil {
		t.Fatal(err)
	}
	e.accountA = e.mustAccount(e.a.ID, []mapping.CRMUser{
		{ID: "1", Name: "Ivan Seller", Email: "ivan@a.example.com", Active: true},
		{ID: "2", Name: "Petro Head", Email: "petro.crm@a.example.com", Active: true},
		{ID: "3", Name: "Nobody Known", Email: "nobody@a.example.com", Active: true},
		{ID: "4", Name: "Gone Manager", Email: "gone@a.example.com", Active: false},
	})
	e.accountB = e.mustAccount(e.b.ID, []mapping.CRMUser{{ID: "1", Name: "Bohdan Admin", Email: "bohdan@b.example.com", Active: true}})

	e.server = &web.Server{
		Tenants: db, Directory: db, Accounts: webstore.Accounts{DB: db}, Syncer: e.syncer,
		Routing: web.Routing{Router: e.router, Decisions: db, Invalidator: e.inv},
		Logger:  slog.New(slog.DiscardHandler),
	}
	e.srv = httptest.NewUnstartedServer(nil)
	e.server.Admin = web.AdminConfig{
		SessionKey: []byte("0123456789abcdef0123456789abcdef-test"),
		BaseURL:    "http://" + e.srv.Listener.Addr().String(),
		Store:      webstore.Admin{DB: db},
	}
	if configure != nil {
		configure(e.server)
	}
	e.srv.Config.Handler = e.server.Handler()
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *adminEnv) mustEmployee(tenantID int64, name, email, role string, dept *int64) telephony.Employee {
	e.t.Helper()
	emp, err := e.db.CreateEmployee(context.Background(), tenantID, telephony.EmployeeInput{
		FullName: name, Email: email, Role: role, Password: adminPassword, DepartmentID: dept, Position: "Manager",
	})
	if err != nil {
		e.t.Fatalf("create %s: %v", name, err)
	}
	return emp
}

func (e *adminEnv) mustAccount(tenantID int64, users []mapping.CRMUser) int64 {
	e.t.Helper()
	ctx := context.Background()
	a, err := e.db.LinkAccount(ctx, tenantID, store.LinkAccount{Connector: "amocrm", Name: "amo test", ExternalID: "acme",
		BaseURL: "https://acme.amocrm.ru", Token: &oauth2.Token{AccessToken: "at", RefreshToken: "rt"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.ApplyUserSync(ctx, tenantID, a.ID, users); err != nil {
		e.t.Fatal(err)
	}
	return a.ID
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string // the last page's form token
}

// page is one answer.
type page struct {
	Status   int
	Location string
	Body     string
}

func (e *adminEnv) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: e.t, base: e.srv.URL, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := csrfPattern.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return page{Status: resp.StatusCode, Location: resp.Header.Get("Location"), Body: string(body)}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.url(path), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post sends form with the last page's CSRF token (unless form has one).
func (b *browser) post(path string, form url.Values) page {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.url(path), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) url(path string) string {
	if strings.HasPrefix(path, "http") {
		return path
	}
	return b.base + path
}

// login signs in and fails the test unless it worked.
func (b *browser) login(login string) {
	b.t.Helper()
	b.get("/login")
	p := b.post("/login", url.Values{"login": {login}, "password": {adminPassword}})
	if p.Status != http.StatusSeeOther {
		b.t.Fatalf("login %s: status %d: %s", login, p.Status, text(p.Body))
	}
	b.get("/admin/") // a page with the session's CSRF token
}

// text strips tags, for failure messages and content checks.
func text(page string) string {
	s := regexp.MustCompile(`(?s)<[^>]*>`).ReplaceAllString(page, " ")
	return strings.Join(strings.Fields(html.UnescapeString(s)), " ")
}
