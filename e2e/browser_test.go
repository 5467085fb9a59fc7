package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
)

const (
	chromiumPath = "/usr/bin/chromium"
	demoDID      = "+380442270000"
	demoCaller   = "+380671234567" // Acme: an open deal of Ivan Petrenko
)

// screenshotDir is where every page's screenshot goes (gitignored);
// docsDir holds the two the README shows.
var (
	screenshotDir = filepath.Join(moduleRoot(), "test-output", "screenshots")
	docsDir       = filepath.Join(moduleRoot(), "docs", "screenshots")
)

// TestDemo runs `crmsync serve --demo` and goes through the whole loop: the
// route API, a SIP INVITE from sipp, and the admin pages in headless
// Chromium.
func TestDemo(t *testing.T) {
	d := startDemo(t)
	t.Run("RouteAPI", func(t *testing.T) {
		status, body := d.api(t, "GET", "/api/v1/route?caller="+url.QueryEscape(demoCaller)+"&did="+url.QueryEscape(demoDID), nil, false)
		if status != http.StatusOK || !strings.Contains(body, `"sip_status":302`) || !strings.Contains(body, "Ivan Petrenko") {
			t.Fatalf("route: %d %s", status, body)
		}
	})
	t.Run("SIPP", func(t *testing.T) { testSIPP(t, d) })
	t.Run("Browser", func(t *testing.T) { testBrowser(t, d) })
}

// testSIPP sends the demo's INVITE with sipp and expects a 302.
func testSIPP(t *testing.T, d *demo) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		if testenv.CI() {
			t.Fatal("sipp is not installed (Debian: sip-tester)")
		}
		t.Skip("sipp is not installed (Debian: sip-tester)")
	}
	dir := t.TempDir()
	scenario := filepath.Join(dir, "invite.xml")
	if err := os.WriteFile(scenario, []byte(strings.NewReplacer("CALLER", demoCaller, "DID", demoDID).Replace(readScenario(t, d))), 0o600); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "sipp.log")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, "-sf", scenario, "-m", "1", "-trace_logs", "-log_file", log, "-timeout", "20s", d.SIPAddr)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "302 Moved Temporarily, Contact: <sip:ivan@pbx.demo.example>") {
		t.Fatalf("sipp log: %s", b)
	}
}

// readScenario returns the sipp scenario the demo wrote (its data dir is
// the process's working directory's data/).
func readScenario(t *testing.T, d *demo) string {
	t.Helper()
	re := strings.Fields(d.output())
	for i, f := range re {
		if f == "-sf" && i+1 < len(re) {
			b, err := os.ReadFile(re[i+1])
			if err != nil {
				t.Fatal(err)
			}
			return string(b)
		}
	}
	t.Fatal("the demo printed no sipp command")
	return ""
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if testenv.CI() {
			t.Fatalf("%s is missing: install the Debian packages chromium and chromium-driver", chromiumPath)
		}
		t.Skipf("%s is missing: install the Debian packages chromium and chromium-driver to run the browser tests", chromiumPath)
	}
	profile, err := os.MkdirTemp("", "crmsync-e2e-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(func() {
		_ = chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelTimeout()
		cancelCtx()
		cancelAlloc()
		// Chromium's helper processes may still be writing the profile.
		for range 50 {
			if os.RemoveAll(profile) == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// run runs actions, failing the test with what the page shows.
func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var body, loc string
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_ = chromedp.Run(tctx, chromedp.Location(&loc), chromedp.Text("body", &body, chromedp.ByQuery))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

// screenshot saves the page as test-output/screenshots/name.png and, with
// docs and CRMSYNC_UPDATE_SCREENSHOTS=1, as docs/screenshots/docs.png too
// (the README's pictures; a plain test run leaves the checkout clean).
func screenshot(t *testing.T, ctx context.Context, name, docs string) {
	t.Helper()
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	for dir, file := range map[string]string{screenshotDir: name, docsDir: docs} {
		if file == "" || dir == docsDir && os.Getenv("CRMSYNC_UPDATE_SCREENSHOTS") != "1" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// navigating runs actions that make the page navigate (a click on a
// submit button or a link) and waits until the next page has loaded: a
// marker set on the old page is gone and the new one is complete.
func navigating(actions ...chromedp.Action) chromedp.Action {
	all := []chromedp.Action{chromedp.Evaluate(`window.__e2eOldPage = true`, nil)}
	all = append(all, actions...)
	all = append(all, chromedp.ActionFunc(func(ctx context.Context) error {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var loaded bool
			err := chromedp.Evaluate(`window.__e2eOldPage === undefined && document.readyState === 'complete'`, &loaded).Do(ctx)
			switch {
			case err == nil && loaded:
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			case time.Now().After(deadline):
				return fmt.Errorf("the next page did not load in 30 s (last error: %v)", err)
			}
			time.Sleep(50 * time.Millisecond) // evaluating fails while the page navigates: try again
		}
	}))
	return chromedp.Tasks(all)
}

// textOf returns the text of the first element sel matches.
func textOf(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	var s string
	run(t, ctx, "read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery, chromedp.NodeVisible))
	return s
}

func testBrowser(t *testing.T, d *demo) {
	ctx := newBrowser(t)
	bg := context.Background()
	acct := d.demoAccount(t)

	// Sign in.
	run(t, ctx, "open the sign-in page", chromedp.Navigate(d.URL+"/admin/"), chromedp.WaitVisible("#login", chromedp.ByQuery))
	screenshot(t, ctx, "01-login", "")
	run(t, ctx, "sign in",
		chromedp.SendKeys("#login", d.AdminLogin, chromedp.ByQuery),
		chromedp.SendKeys("#password", d.AdminPass, chromedp.ByQuery),
		navigating(chromedp.Submit("#password", chromedp.ByQuery)),
		chromedp.WaitVisible("main h1", chromedp.ByQuery))
	if h := textOf(t, ctx, "main h1"); h != "Demo Company" {
		t.Fatalf("after sign-in: %q", h)
	}
	screenshot(t, ctx, "02-overview", "")

	// The first sync has run: its report is on the Integrations page.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var html string
		run(t, ctx, "open Integrations", chromedp.Navigate(d.URL+"/admin/integrations"),
			chromedp.WaitVisible("main h1", chromedp.ByQuery), chromedp.OuterHTML("main", &html, chromedp.ByQuery))
		if strings.Contains(html, "Last sync report") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sync report after 90 s:\n%s", html)
		}
		time.Sleep(time.Second) // polling the page with a deadline
	}
	screenshot(t, ctx, "03-integrations", "")

	// Connect an account: OAuth through the sandbox CRM's consent page.
	run(t, ctx, "press Connect", navigating(chromedp.Click("#connect-amocrm", chromedp.ByQuery)), chromedp.WaitVisible("#allow", chromedp.ByQuery))
	screenshot(t, ctx, "04-sandbox-consent", "")
	run(t, ctx, "allow access", navigating(chromedp.Click("#allow", chromedp.ByQuery)), chromedp.WaitVisible(".flash", chromedp.ByQuery))
	if f := textOf(t, ctx, ".flash"); !strings.Contains(f, "is connected") || !strings.Contains(f, "first sync is queued") {
		t.Fatalf("after the OAuth link: %q", f)
	}
	screenshot(t, ctx, "05-connected", "")
	if as, _ := d.DB.Accounts(bg, d.TenantID); len(as) != 1 {
		t.Errorf("the relink made %d accounts, want the demo's one", len(as))
	}

	// Change a mapping: the ambiguous CRM user 5 becomes Andriy Melnyk's.
	andriy := d.employee(t, "andriy.melnyk@demo.example")
	mapping := fmt.Sprintf("%s/admin/accounts/%d/mapping", d.URL, acct)
	run(t, ctx, "open the mapping", chromedp.Navigate(mapping), chromedp.WaitVisible("#mapping", chromedp.ByQuery))
	if s := textOf(t, ctx, "#u-5 .state"); !strings.HasPrefix(s, "Ambiguous") {
		t.Fatalf("CRM user 5 before: %q", s)
	}
	run(t, ctx, "link CRM user 5 by hand",
		chromedp.SetValue("#u-5 select", fmt.Sprint(andriy.ID), chromedp.ByQuery),
		navigating(chromedp.Click("#u-5 button[type=submit]", chromedp.ByQuery)),
		chromedp.WaitVisible(".flash", chromedp.ByQuery))
	if s := textOf(t, ctx, "#u-5 .state"); s != "Manual link" {
		t.Fatalf("CRM user 5 after: %q (flash %q)", s, textOf(t, ctx, ".flash"))
	}
	for id, want := range map[string]string{"1": "Matched by email (100%)", "2": "Matched by name (70%)", "7": "Unmatched", "8": "Deactivated in the CRM"} {
		if s := textOf(t, ctx, "#u-"+id+" .state"); s != want {
			t.Errorf("CRM user %s: %q, want %q", id, s, want)
		}
	}
	screenshot(t, ctx, "06-mapping", "mapping")
	run(t, ctx, "phone-sized viewport", chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible("#mapping", chromedp.ByQuery))
	screenshot(t, ctx, "07-mapping-phone", "")
	run(t, ctx, "laptop-sized viewport", chromedp.EmulateViewport(1280, 900))

	// Reorder the entity kinds: contact before deal, then back.
	order := func() string {
		var s string
		run(t, ctx, "read the order", chromedp.Evaluate(`[...document.querySelectorAll('#kinds li')].map(li => li.dataset.kind).join(',')`, &s))
		return s
	}
	run(t, ctx, "open Smart forwarding", chromedp.Navigate(d.URL+"/admin/routing"), chromedp.WaitVisible("#kinds", chromedp.ByQuery))
	if o := order(); o != "lead,deal,contact" {
		t.Fatalf("initial order %q", o)
	}
	run(t, ctx, "move contact up", navigating(chromedp.Click(`button[value="contact:up"]`, chromedp.ByQuery)), chromedp.WaitVisible(".flash", chromedp.ByQuery))
	if o := order(); o != "lead,contact,deal" {
		t.Fatalf("order after moving contact up: %q (%s)", o, textOf(t, ctx, ".flash"))
	}
	if tn, err := d.DB.Tenant(bg, d.TenantID); err != nil || strings.Join(tn.Routing.Order, ",") != "lead,contact,deal" {
		t.Fatalf("stored order: %v %v", tn.Routing.Order, err)
	}
	screenshot(t, ctx, "08-routing-reordered", "")
	run(t, ctx, "move contact down", navigating(chromedp.Click(`button[value="contact:down"]`, chromedp.ByQuery)), chromedp.WaitVisible(".flash", chromedp.ByQuery))
	if o := order(); o != "lead,deal,contact" {
		t.Fatalf("order after moving contact back: %q", o)
	}

	// The route tester: where a call from Acme goes now, and why.
	run(t, ctx, "run the route tester",
		chromedp.SetValue("#caller", demoCaller, chromedp.ByQuery),
		navigating(chromedp.Click("#run-tester", chromedp.ByQuery)),
		chromedp.WaitVisible("#result", chromedp.ByQuery))
	result := textOf(t, ctx, "#result")
	for _, want := range []string{"SIP 302", "Ivan Petrenko", "deal 201", "sip:ivan@pbx.demo.example"} {
		if !strings.Contains(result, want) {
			t.Errorf("route tester result lacks %q: %s", want, result)
		}
	}
	screenshot(t, ctx, "09-route-tester", "route-tester")

	// A call: its routing decision and its push-back state. The router's
	// recorder writes decisions in batches, and the worker delivers the
	// events: poll the page until both show, up to a minute.
	d.postCall(t, "e2e-call-1")
	var status, decision string
	deadline = time.Now().Add(60 * time.Second)
	for {
		run(t, ctx, "open Recent calls", chromedp.Navigate(d.URL+"/admin/calls"),
			chromedp.WaitVisible(`tr[data-call="e2e-call-1"]`, chromedp.ByQuery))
		status = textOf(t, ctx, `tr[data-call="e2e-call-1"] .pushback`)
		decision = textOf(t, ctx, `tr[data-call="e2e-call-1"] td[data-label="Routing decision"]`)
		decided := strings.HasPrefix(decision, "routed")
		if decided && (status == jobs.EventDelivered || !d.eventsServed) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // polling the page with a deadline
	}
	if !strings.HasPrefix(decision, "routed") || !strings.Contains(decision, "Ivan Petrenko") {
		t.Errorf("the call's routing decision: %q", decision)
	}
	switch {
	case d.eventsServed && status != jobs.EventDelivered:
		t.Errorf("push-back state %q after 60 s, want delivered", status)
	case !d.eventsServed && status != jobs.EventPending:
		t.Errorf("push-back state %q, want pending", status)
	}
	run(t, ctx, "open the call's events", chromedp.Click(`tr[data-call="e2e-call-1"] details summary`, chromedp.ByQuery))
	screenshot(t, ctx, "10-calls", "")
	if d.eventsServed {
		run(t, ctx, "open the sandbox CRM", chromedp.Navigate(d.Sandbox+"/"), chromedp.WaitVisible("#calls", chromedp.ByQuery))
		if s := textOf(t, ctx, "#calls"); !strings.Contains(s, demoCaller) {
			t.Errorf("the sandbox CRM shows no call from %s: %s", demoCaller, s)
		}
		screenshot(t, ctx, "11-sandbox-crm", "")
	}

	// Employees: deleting a responsible manager asks first.
	ivan := d.employee(t, "ivan.petrenko@demo.example")
	run(t, ctx, "open Employees", chromedp.Navigate(d.URL+"/admin/employees"), chromedp.WaitVisible("#e-"+fmt.Sprint(ivan.ID), chromedp.ByQuery))
	screenshot(t, ctx, "12-employees", "")
	run(t, ctx, "delete Ivan", navigating(chromedp.Click(fmt.Sprintf("#e-%d button[type=submit]", ivan.ID), chromedp.ByQuery)),
		chromedp.WaitVisible(".warning", chromedp.ByQuery))
	if w := textOf(t, ctx, ".warning"); !strings.Contains(w, "is linked to CRM user 'Ivan Petrenko'") {
		t.Errorf("delete warning: %s", w)
	}
	screenshot(t, ctx, "13-delete-warning", "")
	run(t, ctx, "cancel the delete", navigating(chromedp.Click("a.btn.secondary", chromedp.ByQuery)), chromedp.WaitVisible("main h1", chromedp.ByQuery))
	if _, err := d.DB.Employee(bg, d.TenantID, ivan.ID); err != nil {
		t.Errorf("Ivan after cancelling: %v", err)
	}

	// A department head sees their department, read-only.
	run(t, ctx, "sign out", chromedp.Navigate(d.URL+"/admin/"), chromedp.WaitVisible("main h1", chromedp.ByQuery),
		navigating(chromedp.Click(".who button", chromedp.ByQuery)), chromedp.WaitVisible("#login", chromedp.ByQuery))
	run(t, ctx, "sign in as the department head",
		chromedp.SendKeys("#login", d.HeadLogin, chromedp.ByQuery),
		chromedp.SendKeys("#password", d.HeadPass, chromedp.ByQuery),
		navigating(chromedp.Submit("#password", chromedp.ByQuery)),
		chromedp.Navigate(mapping), chromedp.WaitVisible("#mapping", chromedp.ByQuery))
	var forms int
	run(t, ctx, "count forms", chromedp.Evaluate(`document.querySelectorAll('#mapping form').length`, &forms))
	if rows := textOf(t, ctx, "#mapping tbody"); forms != 0 || strings.Contains(rows, "Olena") || !strings.Contains(rows, "Andriy Melnyk") {
		t.Errorf("department head's mapping: %d forms: %s", forms, rows)
	}
	screenshot(t, ctx, "14-department-head-mapping", "")
	var status403 string
	run(t, ctx, "open Smart forwarding as the department head", chromedp.Navigate(d.URL+"/admin/routing"),
		chromedp.WaitVisible("main h1", chromedp.ByQuery), chromedp.Text("main h1", &status403, chromedp.ByQuery))
	if status403 != "Not allowed" {
		t.Errorf("department head on Smart forwarding: %q", status403)
	}
}

// demoAccount returns the id of the demo's sandbox account.
func (d *demo) demoAccount(t *testing.T) int64 {
	t.Helper()
	as, err := d.DB.Accounts(context.Background(), d.TenantID)
	if err != nil || len(as) == 0 {
		t.Fatalf("demo accounts: %v %v", as, err)
	}
	return as[0].ID
}

// employee returns the demo tenant's employee with email.
func (d *demo) employee(t *testing.T, email string) telephony.Employee {
	t.Helper()
	es, err := d.DB.Employees(context.Background(), d.TenantID, telephony.EmployeeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Email == email {
			return e
		}
	}
	t.Fatalf("no employee %s", email)
	return telephony.Employee{}
}

// postCall routes a call through the route API (which records the
// decision under its call id) and posts its events, signed. Where POST
// /api/v1/events is not served by this build, the events are recorded
// through the store instead and stay pending.
func (d *demo) postCall(t *testing.T, callID string) {
	t.Helper()
	status, body := d.api(t, "GET", "/api/v1/route?caller="+url.QueryEscape(demoCaller)+"&did="+url.QueryEscape(demoDID)+"&call_id="+callID, nil, false)
	if status != http.StatusOK {
		t.Fatalf("route: %d %s", status, body)
	}
	now := time.Now().UTC().Add(-3 * time.Minute).Truncate(time.Second)
	dur, answered := int64(175), true
	ivan := d.employee(t, "ivan.petrenko@demo.example")
	events := []jobs.CallEvent{
		{CallID: callID, Kind: jobs.EventStarted, Seq: 1, OccurredAt: now, Direction: "inbound", Caller: demoCaller, Callee: demoDID},
		{CallID: callID, Kind: jobs.EventAnswered, Seq: 2, OccurredAt: now.Add(7 * time.Second), EmployeeID: ivan.ID},
		{CallID: callID, Kind: jobs.EventFinished, Seq: 3, OccurredAt: now.Add(3 * time.Minute), DurationS: &dur, Answered: &answered},
	}
	raw, _ := json.Marshal(map[string]any{"events": events})
	status, body = d.api(t, "POST", "/api/v1/events", raw, true)
	switch status {
	case http.StatusOK:
		d.eventsServed = true
	case http.StatusNotFound:
		t.Logf("POST /api/v1/events is not served by this build (%s): recording the events through the store", body)
		if _, err := d.DB.RecordCallEvents(context.Background(), d.TenantID, events); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("post events: %d %s", status, body)
	}
}
