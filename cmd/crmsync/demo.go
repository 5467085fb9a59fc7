package main

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

// crmsync serve --demo: before the roles start, seed (idempotently) a demo
// tenant with a DID, two departments and five employees (one with a
// working schedule, one on vacation with a redirect), start a sandbox CRM
// on loopback (the amoCRM fake over a connectortest.Backend with users
// matching the employees and contacts and deals with phones), link it as
// an account with a token the sandbox issued, queue its first sync, and
// print what to try next. The sandbox also has a consent page, so the
// admin pages' "Connect amoCRM / Kommo" runs the real OAuth flow against
// it.

// demoFlag registers --demo on a role command's flags.
func demoFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("demo", false, "seed a demo tenant and a sandbox CRM on loopback, then print how to try them (for serve)")
}

// roleDemo seeds the demo; runRoles puts it first when --demo is given, so
// it runs after the store and Redis are open and before the other roles.
var roleDemo = role{name: "demo", open: func(ctx context.Context, m *Main) error { return m.seedDemo(ctx) }}

// The demo's fixed data.
const (
	demoTenantName = "Demo Company"
	demoDID        = "+380442270000"
	demoExternalID = "demo-sandbox"
	demoAdminEmail = "olena.kovalenko@demo.example"
	demoHeadEmail  = "andriy.melnyk@demo.example"
	// demoCaller is a client whose open deal belongs to Ivan Petrenko.
	demoCaller = "+380671234567"
)

// demoEmployee is one seeded employee and the CRM user(s) beside them.
type demoEmployee struct {
	in telephony.EmployeeInput
	// dept names the department; absent marks the one on vacation.
	dept   string
	absent bool
}

func demoEmployees() []demoEmployee {
	weekdays := make([]telephony.SlotInput, 0, 5)
	for d := 1; d <= 5; d++ {
		weekdays = append(weekdays, telephony.SlotInput{Weekday: json.RawMessage(fmt.Sprint(d)), Start: "09:00", End: "18:00"})
	}
	return []demoEmployee{
		{dept: "Sales", in: telephony.EmployeeInput{FullName: "Olena Kovalenko", Email: demoAdminEmail, Login: "admin",
			Role: telephony.RoleAdministrator, Position: "Head of sales", MainContacts: []string{"+380501110001"}}},
		{dept: "Sales", in: telephony.EmployeeInput{FullName: "Ivan Petrenko", Email: "ivan.petrenko@demo.example",
			Role: telephony.RoleUser, Position: "Account manager", Mobile: "+380501110002",
			MainContacts: []string{"sip:ivan@pbx.demo.example", "+380501110002"}}},
		{dept: "Support", in: telephony.EmployeeInput{FullName: "Maria Shevchenko", Email: "maria.shevchenko@demo.example",
			Role: telephony.RoleUser, Position: "Support engineer", MainContacts: []string{"+380501110003"}, Schedule: weekdays}},
		{dept: "Sales", absent: true, in: telephony.EmployeeInput{FullName: "Petro Bondar", Email: "petro.bondar@demo.example",
			Role: telephony.RoleUser, Position: "Account manager", MainContacts: []string{"+380501110004"}}},
		{dept: "Support", in: telephony.EmployeeInput{FullName: "Andriy Melnyk", Email: demoHeadEmail, Login: "andriy",
			Role: telephony.RoleDepartmentHead, Position: "Head of support", MainContacts: []string{"+380501110005"}}},
	}
}

// seedSandbox fills the sandbox CRM: users beside the employees (matched by
// email, by name, ambiguous, unmatched, deactivated) and clients with
// phones whose deals and contacts name their responsible managers.
func seedSandbox(b *connectortest.Backend) {
	b.AddUsers(
		connectors.User{ID: "1", Name: "Olena Kovalenko", Email: demoAdminEmail, Active: true},
		connectors.User{ID: "2", Name: "Ivan Petrenko", Email: "ivan.p@crm.demo.example", Active: true},
		connectors.User{ID: "3", Name: "Maria Shevchenko", Email: "m.shevchenko@crm.demo.example", Active: true},
		connectors.User{ID: "4", Name: "Petro Bondar", Email: "petro.bondar@demo.example", Active: true},
		connectors.User{ID: "5", Name: "Andriy Melnyk", Email: "andriy@crm.demo.example", Active: true},
		connectors.User{ID: "6", Name: "Andriy Melnyk", Email: "a.melnyk@crm.demo.example", Active: true},
		connectors.User{ID: "7", Name: "Sales Bot", Email: "bot@crm.demo.example", Active: true},
		connectors.User{ID: "8", Name: "Former Manager", Email: "former@crm.demo.example", Active: false},
	)
	contact := func(id, title, resp, phone string) connectortest.Record {
		return connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, ID: id, Title: title,
			ResponsibleUserID: resp, Phones: []string{phone}}}
	}
	deal := func(id, title, resp string, closed bool, contact string) connectortest.Record {
		return connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, ID: id, Title: title,
			ResponsibleUserID: resp, Closed: closed}, Links: []string{contact}}
	}
	b.AddRecords(
		contact("101", "Acme Ltd (Oksana)", "3", "+38 067 123 45 67"),
		contact("102", "Globex (Dmytro)", "4", "+380 93 111 22 33"),
		contact("103", "Initech (Iryna)", "3", "050 999 88 77"),
		contact("104", "Umbrella (Serhiy)", "8", "+380445550101"),
		deal("201", "Acme renewal 2026", "2", false, "101"),
		deal("202", "Acme pilot", "1", true, "101"),
		deal("203", "Globex upgrade", "4", false, "102"),
	)
}

// demoSandbox is the sandbox CRM a demo process serves on loopback.
type demoSandbox struct {
	URL      string
	Backend  *connectortest.Backend
	amo      *amocrmtest.Handler
	callback string // our OAuth redirect URI, which the sandbox accepts
	srv      *http.Server
}

// startSandbox serves the amoCRM fake on a loopback port, plus a page
// showing its data and what crmsync wrote, and a consent page for OAuth.
func (m *Main) startSandbox() (*demoSandbox, error) {
	b := connectortest.NewBackend()
	seedSandbox(b)
	sb := &demoSandbox{Backend: b, amo: amocrmtest.NewHandler(b),
		callback: strings.TrimRight(m.Config.BaseURL, "/") + "/connect/amocrm/callback"}
	sb.amo.AccessTTL = 365 * 24 * time.Hour
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo sandbox: %w", err)
	}
	sb.URL = "http://" + ln.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", sb.handleHome)
	mux.HandleFunc("GET /oauth", sb.handleConsent)
	mux.HandleFunc("POST /oauth2/access_token", sb.handleToken)
	mux.Handle("/", sb.amo)
	sb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := sb.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error("demo sandbox: serve", "err", err)
		}
	}()
	m.demo = sb
	m.onClose(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return sb.srv.Shutdown(ctx)
	})
	return sb, nil
}

// handleConsent stands in for amo's consent page: Allow sends the browser
// back to crmsync with a code, the state and the account's host (referer),
// as amo does.
func (sb *demoSandbox) handleConsent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != amocrmtest.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	if q.Get("allow") == "1" {
		back, err := url.Parse(sb.callback)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		v := url.Values{"code": {sb.amo.IssueCode()}, "state": {q.Get("state")}, "referer": {strings.TrimPrefix(sb.URL, "http://")}}
		back.RawQuery = v.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	q.Set("allow", "1")
	renderSandbox(w, consentPage, map[string]any{"Allow": "/oauth?" + q.Encode(), "Callback": sb.callback})
}

// handleToken passes token requests to the fake, which knows one redirect
// URI: crmsync's own callback is accepted in its place. Successful answers
// name the account (account_id), so a relink updates the demo account.
func (sb *demoSandbox) handleToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.PostForm.Get("redirect_uri") == sb.callback {
		r.PostForm.Set("redirect_uri", amocrmtest.RedirectURI)
	}
	body := r.PostForm.Encode()
	inner, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, r.URL.String(), strings.NewReader(body))
	inner.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	sb.amo.ServeHTTP(rec, inner)
	out := rec.Body.Bytes()
	if rec.Code == http.StatusOK {
		var tok map[string]any
		if json.Unmarshal(out, &tok) == nil {
			tok["account_id"] = demoExternalID
			out, _ = json.Marshal(tok)
		}
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(out)
}

// handleHome shows the sandbox's users, clients and what crmsync wrote.
func (sb *demoSandbox) handleHome(w http.ResponseWriter, r *http.Request) {
	var records []connectortest.Record
	for _, k := range []connectors.EntityKind{connectors.KindDeal, connectors.KindContact} {
		records = append(records, sb.Backend.Records(k)...)
	}
	names := map[string]string{"": "—"}
	for _, u := range sb.Backend.Users() {
		names[u.ID] = u.Name
	}
	renderSandbox(w, homePage, map[string]any{
		"URL": sb.URL, "Users": sb.Backend.Users(), "Records": records, "Calls": sb.Backend.Calls(), "Tasks": sb.Backend.Tasks(), "Names": names,
	})
}

func renderSandbox(w http.ResponseWriter, t *template.Template, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := t.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

const sandboxStyle = `<style>body{font:15px/1.45 system-ui,sans-serif;max-width:960px;margin:1rem auto;padding:0 1rem;color:#1d2330}
table{border-collapse:collapse;width:100%;margin-bottom:1.5rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e3e6eb;vertical-align:top}
th{font-size:.8rem;color:#667085;text-transform:uppercase}.btn{display:inline-block;background:#2f5fd0;color:#fff;padding:.5rem 1rem;border-radius:6px;text-decoration:none}
.muted{color:#667085}</style>`

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sandbox CRM · allow access</title>` + sandboxStyle + `</head><body>
<h1>Demo sandbox CRM</h1><p><strong>crmsync</strong> asks for access to this amoCRM account: users, contacts, deals, and writing call notes and tasks.</p>
<p><a class="btn" id="allow" href="{{.Allow}}">Allow</a></p><p class="muted">You will return to {{.Callback}}.</p></body></html>`))

var homePage = template.Must(template.New("home").Parse(`<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Sandbox CRM</title>` + sandboxStyle + `</head><body>
<h1>Demo sandbox CRM <span class="muted">(amoCRM API at {{.URL}})</span></h1>
<h2>Calls crmsync wrote</h2>
<table id="calls"><tr><th>Note</th><th>Call</th><th>Record</th><th>Responsible / answered by</th><th>Tags and comment</th></tr>
{{range .Calls}}<tr><td>{{.ID}} <span class="muted">({{.Writes}} writes)</span></td><td>{{.Call.Direction}} {{.Call.From}}{{with .Call.To}} → {{.}}{{end}}, {{.Call.Duration}}{{if not .Call.Answered}}, missed{{end}}</td>
<td>{{with .Call.Entity}}{{.Kind}} {{.ID}}{{end}}</td><td>{{index $.Names .Call.Responsible}} / {{index $.Names .Call.AnsweredBy}}</td><td>{{.Call.Category}} {{.Call.Value}} {{.Call.Comment}}</td></tr>
{{else}}<tr><td colspan="5" class="muted">None yet: post call events to crmsync.</td></tr>{{end}}</table>
{{if .Tasks}}<h2>Tasks</h2><table>{{range .Tasks}}<tr><td>{{.ID}}</td><td>user {{.Task.ResponsibleUserID}}</td><td>{{.Task.Text}}</td></tr>{{end}}</table>{{end}}
<h2>Deals and contacts</h2><table><tr><th>Kind</th><th>Id</th><th>Title</th><th>Phones</th><th>Responsible user</th></tr>
{{range .Records}}<tr><td>{{.Kind}}</td><td>{{.ID}}</td><td>{{.Title}}{{if .Closed}} <span class="muted">(closed)</span>{{end}}</td><td>{{range .Phones}}{{.}} {{end}}</td><td>{{.ResponsibleUserID}}</td></tr>{{end}}</table>
<h2>Users</h2><table><tr><th>Id</th><th>Name</th><th>Email</th><th>Active</th></tr>
{{range .Users}}<tr><td>{{.ID}}</td><td>{{.Name}}</td><td>{{.Email}}</td><td>{{.Active}}</td></tr>{{end}}</table></body></html>`))

// demoState is what the demo keeps between runs in CRMSYNC_DATA_DIR: the
// tenant's API key is shown only once, at creation.
type demoState struct {
	TenantID int64  `json:"tenant_id"`
	APIKey   string `json:"api_key"`
}

// demoCredentials are the sign-ins the demo prints.
type demoCredentials struct {
	Tenant                  telephony.Tenant
	APIKey, SigningSecret   string
	AdminLogin, AdminPass   string
	HeadLogin, HeadPass     string
	Sandbox                 *demoSandbox
	OpsUser, OpsPass        string
	ScenarioPath, AccountID string
}

// seedDemo seeds the demo tenant and links the sandbox CRM (see above),
// then prints what to try on standard output.
func (m *Main) seedDemo(ctx context.Context) error { return m.seedDemoTo(ctx, os.Stdout) }

// seedDemoTo is seedDemo printing to w.
func (m *Main) seedDemoTo(ctx context.Context, w io.Writer) error {
	sb, err := m.startSandbox()
	if err != nil {
		return err
	}
	// The sandbox's OAuth app, for the connector resolver and Connect.
	if m.Config.OAuth == nil {
		m.Config.OAuth = map[string]config.OAuthApp{}
	}
	m.Config.OAuth["amocrm"] = config.OAuthApp{ClientID: amocrmtest.ClientID, ClientSecret: config.Secret(amocrmtest.ClientSecret)}
	creds := demoCredentials{Sandbox: sb, OpsUser: m.Config.Ops.User}
	if m.Config.Ops.Password == "" { // the demo shows the dashboard too
		m.Config.Ops.Password = config.Secret(randomPassword())
	}
	creds.OpsPass = m.Config.Ops.Password.Reveal()
	if creds.Tenant, creds.APIKey, err = m.demoTenant(ctx); err != nil {
		return err
	}
	tenantID := creds.Tenant.ID
	if creds.SigningSecret, err = m.DB.SigningSecret(ctx, tenantID); err != nil {
		return err
	}
	if err := m.demoDirectory(ctx, tenantID, &creds); err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}
	acct, err := m.DB.LinkAccount(ctx, tenantID, store.LinkAccount{Connector: "amocrm", Name: "Demo sandbox CRM",
		ExternalID: demoExternalID, BaseURL: sb.URL, Token: sb.amo.IssueToken(time.Now().Add(sb.amo.AccessTTL))})
	if err != nil {
		return fmt.Errorf("demo: link the sandbox CRM: %w", err)
	}
	creds.AccountID = fmt.Sprint(acct.ID)
	if err := m.demoSync(ctx, tenantID, acct.ID); err != nil {
		m.Logger.Warn("demo: the first sync could not be queued; press Sync now on the Integrations page", "err", err)
	}
	if creds.ScenarioPath, err = m.writeSippScenario(creds.Tenant); err != nil {
		return err
	}
	printDemo(w, m.Config, creds)
	return nil
}

// demoTenant finds the demo tenant of an earlier run, or creates it.
func (m *Main) demoTenant(ctx context.Context) (telephony.Tenant, string, error) {
	path := filepath.Join(m.Config.DataDir, "demo.json")
	var st demoState
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &st) == nil && st.APIKey != "" {
		if t, err := m.DB.TenantByAPIKey(ctx, st.APIKey); err == nil && t.ID == st.TenantID {
			return t, st.APIKey, nil
		}
	}
	t, creds, err := m.DB.CreateTenant(ctx, telephony.NewTenant{Name: demoTenantName, Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		return telephony.Tenant{}, "", fmt.Errorf("demo tenant: %w", err)
	}
	if err := os.MkdirAll(m.Config.DataDir, 0o700); err != nil {
		return telephony.Tenant{}, "", err
	}
	b, _ := json.Marshal(demoState{TenantID: t.ID, APIKey: creds.APIKey})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return telephony.Tenant{}, "", fmt.Errorf("demo: write %s: %w", path, err)
	}
	return t, creds.APIKey, nil
}

// demoDirectory creates what is missing of the departments, the DID and
// the employees, puts Petro's vacation around now, and gives the
// administrator and the department head fresh passwords.
func (m *Main) demoDirectory(ctx context.Context, tenantID int64, creds *demoCredentials) error {
	depts := map[string]int64{}
	existing, err := m.DB.Departments(ctx, tenantID)
	if err != nil {
		return err
	}
	for _, d := range existing {
		depts[d.Name] = d.ID
	}
	for _, d := range []telephony.DepartmentInput{{Name: "Sales", Extension: "200"}, {Name: "Support", Extension: "300"}} {
		if _, ok := depts[d.Name]; !ok {
			nd, err := m.DB.CreateDepartment(ctx, tenantID, d)
			if err != nil {
				return err
			}
			depts[d.Name] = nd.ID
		}
	}
	numbers, err := m.DB.Numbers(ctx, tenantID)
	if err != nil {
		return err
	}
	if len(numbers) == 0 {
		if _, err := m.DB.CreateNumber(ctx, tenantID, telephony.NumberInput{Number: demoDID, Label: "Main line"}); err != nil {
			return err
		}
	}
	emps, err := m.DB.Employees(ctx, tenantID, telephony.EmployeeFilter{})
	if err != nil {
		return err
	}
	byEmail := map[string]telephony.Employee{}
	for _, e := range emps {
		byEmail[e.Email] = e
	}
	var ivan int64
	for _, de := range demoEmployees() {
		in := de.in
		id := depts[de.dept]
		in.DepartmentID = &id
		e, ok := byEmail[in.Email]
		if !ok {
			if e, err = m.DB.CreateEmployee(ctx, tenantID, in); err != nil {
				return fmt.Errorf("%s: %w", in.FullName, err)
			}
		}
		if e.FullName == "Ivan Petrenko" {
			ivan = e.ID
		}
		patch := telephony.EmployeePatch{}
		switch in.Email {
		case demoAdminEmail:
			creds.AdminLogin, creds.AdminPass = e.Login, randomPassword()
			patch["password"], _ = json.Marshal(creds.AdminPass)
		case demoHeadEmail:
			creds.HeadLogin, creds.HeadPass = e.Login, randomPassword()
			patch["password"], _ = json.Marshal(creds.HeadPass)
		}
		if de.absent && ivan != 0 {
			now := time.Now().UTC()
			patch["absences"], _ = json.Marshal([]telephony.AbsenceInput{{Kind: "vacation",
				StartsAt: now.Add(-24 * time.Hour).Format(time.RFC3339), EndsAt: now.Add(7 * 24 * time.Hour).Format(time.RFC3339),
				Redirect: &telephony.Target{Kind: telephony.TargetEmployee, ID: ivan}}})
		}
		if len(patch) > 0 {
			if _, err := m.DB.PatchEmployee(ctx, tenantID, e.ID, patch); err != nil {
				return fmt.Errorf("%s: %w", in.FullName, err)
			}
		}
	}
	return nil
}

// demoSync queues the sandbox account's first sync.
func (m *Main) demoSync(ctx context.Context, tenantID, accountID int64) error {
	opt, err := asynq.ParseRedisURI(m.RedisURL)
	if err != nil {
		return err
	}
	client := asynq.NewClient(opt)
	defer client.Close()
	_, err = (&jobs.Enqueuer{Client: client}).EnqueueSync(ctx, tenantID, accountID)
	return err
}

// writeSippScenario writes a one-call sipp scenario (the PBX's side): an
// INVITE from the demo caller to the demo DID that expects the router's
// 302 and logs its Contact.
func (m *Main) writeSippScenario(t telephony.Tenant) (string, error) {
	dir := filepath.Join(m.Config.DataDir, "demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "invite.xml")
	return path, os.WriteFile(path, []byte(strings.NewReplacer("CALLER", demoCaller, "DID", demoDID).Replace(sippScenario)), 0o600)
}

const sippScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- crmsync demo: one INVITE from CALLER to DID, as a PBX sends it; the router answers 302 with the responsible manager's contacts. -->
<scenario name="crmsync demo call">
  <send retrans="500">
    <![CDATA[
INVITE sip:DID@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:CALLER@[local_ip]>;tag=[call_number]
To: <sip:DID@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:CALLER@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="302">
    <action>
      <ereg regexp="Contact:[^\r\n]*" search_in="msg" check_it="true" assign_to="contact"/>
      <log message="302 Moved Temporarily, [$contact]"/>
    </action>
  </recv>
  <send>
    <![CDATA[
ACK sip:DID@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>
</scenario>
`

// printDemo prints where everything is and what to try, as copy-paste
// commands.
func printDemo(w io.Writer, cfg config.Config, c demoCredentials) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	sippLog := filepath.Join(filepath.Dir(c.ScenarioPath), "sipp.log")
	body := `{"events":[` +
		`{"call_id":"demo-call-1","kind":"call.started","seq":1,"occurred_at":"2026-01-05T10:00:00Z","direction":"inbound","caller":"` + demoCaller + `","callee":"` + demoDID + `"},` +
		`{"call_id":"demo-call-1","kind":"call.answered","seq":2,"occurred_at":"2026-01-05T10:00:07Z","answered_by_contact":"+380501110002"},` +
		`{"call_id":"demo-call-1","kind":"call.finished","seq":3,"occurred_at":"2026-01-05T10:03:02Z","duration_s":175,"answered":true},` +
		`{"call_id":"demo-call-1","kind":"call.tagged","seq":4,"occurred_at":"2026-01-05T10:04:00Z","category":"Sales","value":"Hot"},` +
		`{"call_id":"demo-call-1","kind":"call.commented","seq":5,"occurred_at":"2026-01-05T10:05:00Z","text":"Wants the 2026 renewal quote"}]}`
	fmt.Fprintf(w, `
==> crmsync demo is ready (tenant %q, id %d)

  Admin pages    %s/login
    administrator    %s (or %s)   password %s
    department head  %s   password %s
  Sandbox CRM    %s/   (speaks amoCRM's API; the calls crmsync writes show up there)
  Ops dashboard  %s%s/   user %s   password %s

Try it (copy-paste):

  export CRMSYNC_KEY=%s
  export CRMSYNC_SIGNING_SECRET=%s

  # Where would a call from a client of Ivan's go right now, and why?
  curl -s -H "Authorization: Bearer $CRMSYNC_KEY" '%s/api/v1/route?caller=%s&did=%s'

  # The PBX's INVITE: the router answers 302 with Ivan's contacts
  sipp -sf %s -m 1 -trace_logs -log_file %s %s && cat %s

  # Call events, signed as the PBX signs them; then see Recent calls and the sandbox CRM
  BODY='%s'
  TS=$(date +%%s); SIG=$(printf '%%s.%%s' "$TS" "$BODY" | openssl dgst -sha256 -hmac "$CRMSYNC_SIGNING_SECRET" -r | cut -d' ' -f1)
  curl -s -H "Authorization: Bearer $CRMSYNC_KEY" -H "X-Crmsync-Timestamp: $TS" -H "X-Crmsync-Signature: sha256=$SIG" \
    -H 'Content-Type: application/json' -d "$BODY" %s/api/v1/events

`, c.Tenant.Name, c.Tenant.ID, base, c.AdminLogin, demoAdminEmail, c.AdminPass, c.HeadLogin, c.HeadPass, c.Sandbox.URL,
		base, web.DashboardPath, c.OpsUser, c.OpsPass, c.APIKey, c.SigningSecret,
		base, url.QueryEscape(demoCaller), url.QueryEscape(demoDID),
		c.ScenarioPath, sippLog, cfg.SIPAddr, sippLog, body, base)
}

// randomPassword returns a password that passes the directory's rules.
func randomPassword() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return "demo-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}
