package web_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/web"
)

func TestAdmin_Login(t *testing.T) {
	eachAdminEnv(t, nil, func(t *testing.T, e *adminEnv) {
		t.Run("OK", func(t *testing.T) {
			b := e.browser()
			b.get("/login")
			p := b.post("/login", url.Values{"login": {"OLENA@a.example.com"}, "password": {adminPassword}, "next": {"/admin/calls"}})
			if p.Status != http.StatusSeeOther || p.Location != "/admin/calls" {
				t.Fatalf("login by email: %d → %q: %s", p.Status, p.Location, text(p.Body))
			}
			u, _ := url.Parse(e.srv.URL)
			var session *http.Cookie
			for _, c := range b.c.Jar.Cookies(u) {
				if c.Name == "crmsync_session" {
					session = c
				}
			}
			if session == nil {
				t.Fatal("no session cookie")
			}
			if p := b.get("/admin/"); p.Status != http.StatusOK || !strings.Contains(p.Body, "Olena Admin") {
				t.Fatalf("overview: %d %s", p.Status, text(p.Body))
			}
			b.post("/logout", nil)
			if p := b.get("/admin/"); p.Status != http.StatusSeeOther {
				t.Errorf("after sign-out: %d, want a redirect to /login", p.Status)
			}
		})
		t.Run("CookieAttributes", func(t *testing.T) {
			b := e.browser()
			b.get("/login")
			req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{
				"login": {e.admin.Login}, "password": {adminPassword}, "csrf": {b.csrf}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var raw string
			for _, v := range resp.Header.Values("Set-Cookie") {
				if strings.HasPrefix(v, "crmsync_session=") {
					raw = v
				}
			}
			for _, want := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="} {
				if !strings.Contains(raw, want) {
					t.Errorf("session cookie %q lacks %s", raw, want)
				}
			}
			if strings.Contains(raw, "Secure") {
				t.Errorf("session cookie %q is Secure on an http base URL", raw)
			}
		})
		t.Run("ErrWrongPassword", func(t *testing.T) {
			b := e.browser()
			b.get("/login")
			p := b.post("/login", url.Values{"login": {e.admin.Login}, "password": {"wrong password!"}})
			if p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Wrong login or password") {
				t.Fatalf("%d %s", p.Status, text(p.Body))
			}
			b.get("/login")
			p = b.post("/login", url.Values{"login": {"nobody_at_all"}, "password": {adminPassword}})
			if p.Status != http.StatusUnauthorized {
				t.Fatalf("unknown login: %d", p.Status)
			}
		})
		t.Run("ErrNoFormToken", func(t *testing.T) {
			b := e.browser()
			p := b.post("/login", url.Values{"login": {e.admin.Login}, "password": {adminPassword}, "csrf": {"x"}})
			if p.Status != http.StatusForbidden {
				t.Fatalf("sign-in without the form's token: %d", p.Status)
			}
		})
		t.Run("ErrRateLimited", func(t *testing.T) {
			b := e.browser()
			for i := 0; i < 5; i++ {
				b.get("/login")
				if p := b.post("/login", url.Values{"login": {e.head.Login}, "password": {"guess number " + fmt.Sprint(i)}}); p.Status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: %d", i+1, p.Status)
				}
			}
			b.get("/login")
			p := b.post("/login", url.Values{"login": {e.head.Login}, "password": {adminPassword}})
			if p.Status != http.StatusTooManyRequests || !strings.Contains(p.Body, "Too many sign-in attempts") {
				t.Fatalf("6th attempt, with the right password: %d %s", p.Status, text(p.Body))
			}
			// Another login from the same address is not locked out.
			other := e.browser()
			other.login(e.admin.Login)
		})
	})
}

func TestAdmin_Mapping(t *testing.T) {
	eachAdminEnv(t, nil, func(t *testing.T, e *adminEnv) {
		b := e.browser()
		b.login(e.admin.Login)
		path := fmt.Sprintf("/admin/accounts/%d/mapping", e.accountA)
		p := b.get(path)
		body := text(p.Body)
		for _, want := range []string{"Ivan Seller", "Matched by email (100%)", "Nobody Known", "Unmatched", "Deactivated in the CRM", "2 linked", "Matched by name (70%)"} {
			if !strings.Contains(body, want) {
				t.Errorf("mapping page lacks %q: %s", want, body)
			}
		}
		p = b.post(path, url.Values{"crm_user_id": {"3"}, "employee": {fmt.Sprint(e.user.ID)}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("set link: %d %s", p.Status, text(p.Body))
		}
		if p = b.get(path); !strings.Contains(p.Body, "is linked to Taras User") || !strings.Contains(p.Body, "Manual link") {
			t.Errorf("after the manual link: %s", text(p.Body))
		}
		if got, _ := e.inv.take(); len(got) == 0 {
			t.Error("a manual link did not invalidate the routers")
		}
		// The same employee for another user is refused with the reason.
		b.post(path, url.Values{"crm_user_id": {"2"}, "employee": {fmt.Sprint(e.user.ID)}})
		if p = b.get(path); !strings.Contains(p.Body, "flash error") {
			t.Errorf("linking an employee twice: no error shown: %s", text(p.Body))
		}
		b.post(path, url.Values{"crm_user_id": {"3"}, "employee": {"auto"}})
		links, _ := e.db.AccountLinks(context.Background(), e.a.ID, e.accountA)
		for _, l := range links {
			if l.CRMUserID == "3" && l.Manual {
				t.Errorf("automatic again: user 3 still has a manual link")
			}
		}
		// A department head sees the Sales rows only, without forms.
		h := e.browser()
		h.login(e.head.Login)
		p = h.get(path)
		if strings.Contains(p.Body, "Nobody Known") || !strings.Contains(p.Body, "Ivan Seller") || strings.Contains(p.Body, "<select") {
			t.Errorf("department head's mapping page: %s", text(p.Body))
		}
	})
}

func TestAdmin_Routing(t *testing.T) {
	eachAdminEnv(t, nil, func(t *testing.T, e *adminEnv) {
		b := e.browser()
		b.login(e.admin.Login)
		p := b.post("/admin/routing", url.Values{"order": {"lead,deal,contact"}, "kind": {"lead", "deal", "contact"},
			"move": {"contact:up"}, "deadline_ms": {"900"}, "fallback": {"unavailable"}})
		if p.Status != http.StatusSeeOther {
			t.Fatalf("save: %d %s", p.Status, text(p.Body))
		}
		tn, _ := e.db.Tenant(context.Background(), e.a.ID)
		if got := strings.Join(tn.Routing.Order, ","); got != "lead,contact,deal" || tn.Routing.Deadline != 900 || tn.Routing.Fallback != "unavailable" {
			t.Errorf("routing after moving contact up: %+v", tn.Routing)
		}
		b.post("/admin/routing", url.Values{"order": {"lead,contact,deal"}, "kind": {"contact", "deal"}, "deadline_ms": {"900"}})
		tn, _ = e.db.Tenant(context.Background(), e.a.ID)
		if got := strings.Join(tn.Routing.Order, ","); got != "contact,deal" {
			t.Errorf("order without lead: %q", got)
		}
		b.post("/admin/routing", url.Values{"order": {"lead,contact,deal"}, "deadline_ms": {"900"}})
		if p = b.get("/admin/routing"); !strings.Contains(p.Body, "Not saved") {
			t.Errorf("an empty order was not refused: %s", text(p.Body))
		}

		e.router.Decision = telephony.Decision{Outcome: telephony.OutcomeRouted, Contacts: []string{"sip:ivan@pbx"},
			Reason: "Ivan Seller is responsible for deal 7", Steps: []string{"caller +380671234567", "deal 7: responsible CRM user 1"},
			EmployeeID: e.seller.ID, CRMUserID: "1", EntityKind: "deal", EntityID: "7"}
		p = b.get("/admin/routing?caller=" + url.QueryEscape("+380671234567") + "&did=" + url.QueryEscape("+380441234567"))
		body := text(p.Body)
		for _, want := range []string{"SIP 302", "Ivan Seller is responsible for deal 7", "deal 7: responsible CRM user 1", "sip:ivan@pbx"} {
			if !strings.Contains(body, want) {
				t.Errorf("route tester lacks %q: %s", want, body)
			}
		}
		p = b.get("/admin/routing?caller=1&did=" + url.QueryEscape("+380442222222"))
		if !strings.Contains(p.Body, "is not one of this tenant") {
			t.Errorf("another tenant's DID: %s", text(p.Body))
		}
	})
}

func TestAdmin_Calls(t *testing.T) {
	eachAdminEnv(t, nil, func(t *testing.T, e *adminEnv) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		answered, dur := true, int64(42)
		_, err := e.db.RecordCallEvents(ctx, e.a.ID, []jobs.CallEvent{
			{CallID: "call-1", Kind: jobs.EventStarted, Seq: 1, OccurredAt: now, Direction: "inbound", Caller: "+380671234567", Callee: "+380441234567"},
			{CallID: "call-1", Kind: jobs.EventAnswered, Seq: 2, OccurredAt: now, EmployeeID: e.seller.ID},
			{CallID: "call-1", Kind: jobs.EventFinished, Seq: 3, OccurredAt: now, DurationS: &dur, Answered: &answered},
			{CallID: "call-2", Kind: jobs.EventStarted, Seq: 1, OccurredAt: now, Direction: "inbound", Caller: "+380509998877", Callee: "+380441234567"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.db.RecordDecision(ctx, telephony.Decision{Outcome: telephony.OutcomeRouted, Reason: "Ivan Seller is responsible",
			TenantID: e.a.ID, Caller: "+380671234567", DID: "+380441234567", EmployeeID: e.seller.ID, Cache: telephony.CacheMiss}, "call-1"); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		b.login(e.admin.Login)
		body := text(b.get("/admin/calls").Body)
		for _, want := range []string{"call-1", "call-2", "Ivan Seller is responsible", "pending", "call.answered", "3 events"} {
			if !strings.Contains(body, want) {
				t.Errorf("calls page lacks %q: %s", want, body)
			}
		}
		h := e.browser()
		h.login(e.head.Login)
		body = text(h.get("/admin/calls").Body)
		if !strings.Contains(body, "call-1") || strings.Contains(body, "call-2") {
			t.Errorf("department head's calls: %s", body)
		}
		other := e.browser()
		other.login(e.adminB.Login)
		if body = text(other.get("/admin/calls").Body); strings.Contains(body, "call-1") {
			t.Errorf("tenant B sees tenant A's calls: %s", body)
		}
	})
}

func TestAdmin_DeleteEmployee(t *testing.T) {
	eachAdminEnv(t, nil, func(t *testing.T, e *adminEnv) {
		b := e.browser()
		b.login(e.admin.Login)
		path := fmt.Sprintf("/admin/employees/%d/delete", e.seller.ID)
		p := b.post(path, nil)
		if p.Status != http.StatusConflict || !strings.Contains(text(p.Body), "is linked to CRM user 'Ivan Seller' (amocrm account") ||
			!strings.Contains(p.Body, "Delete anyway") {
			t.Fatalf("deleting a responsible manager: %d %s", p.Status, text(p.Body))
		}
		if _, err := e.db.Employee(context.Background(), e.a.ID, e.seller.ID); err != nil {
			t.Fatalf("deleted without force: %v", err)
		}
		if p = b.post(path, url.Values{"force": {"1"}}); p.Status != http.StatusSeeOther {
			t.Fatalf("delete anyway: %d %s", p.Status, text(p.Body))
		}
		if _, err := e.db.Employee(context.Background(), e.a.ID, e.seller.ID); !telephony.IsNotFound(err) {
			t.Fatalf("after delete anyway: %v", err)
		}
		if p = b.post(fmt.Sprintf("/admin/employees/%d/delete", e.user.ID), nil); p.Status != http.StatusSeeOther {
			t.Fatalf("delete an unlinked employee: %d %s", p.Status, text(p.Body))
		}
	})
}

// revokingCRM revokes tokens (web.TokenRevoker) and counts it; the real
// revocation, against the CRM fakes, is connectors' TestResolver_Revoke.
type revokingCRM struct {
	revoked []int64
	err     error
}

func (c *revokingCRM) ConnectorFor(context.Context, int64) (connectors.Connector, error) {
	return nil, errors.New("not needed")
}

func (c *revokingCRM) Revoke(_ context.Context, id int64) error {
	c.revoked = append(c.revoked, id)
	return c.err
}

func TestAdmin_Accounts(t *testing.T) {
	var crm *revokingCRM // the current environment's
	eachAdminEnv(t, func(s *web.Server) {
		crm = &revokingCRM{}
		s.Admin.Connectors = crm
	}, func(t *testing.T, e *adminEnv) {
		b := e.browser()
		b.login(e.admin.Login)
		base := fmt.Sprintf("/admin/accounts/%d", e.accountA)
		if p := b.post(base+"/sync", nil); p.Status != http.StatusSeeOther {
			t.Fatalf("sync now: %d %s", p.Status, text(p.Body))
		}
		if q := e.syncer.queued(); len(q) != 1 || q[0] != e.accountA {
			t.Errorf("queued %v", q)
		}
		if body := text(b.get("/admin/integrations").Body); !strings.Contains(body, "A sync of amoCRM / Kommo account") {
			t.Errorf("after sync now: %s", body)
		}
		if p := b.post(base+"/disconnect", nil); p.Status != http.StatusSeeOther {
			t.Fatalf("disconnect: %d %s", p.Status, text(p.Body))
		}
		a, err := e.db.Account(context.Background(), e.a.ID, e.accountA)
		if err != nil || a.Status != connectors.StatusDisconnected {
			t.Fatalf("after disconnect: %+v %v", a, err)
		}
		if _, err := e.db.LoadToken(context.Background(), e.accountA); err == nil {
			t.Error("the token survived the disconnect")
		}
		if len(crm.revoked) != 1 || crm.revoked[0] != e.accountA {
			t.Errorf("revoked %v, want [%d]", crm.revoked, e.accountA)
		}
		if tenants, _ := e.inv.take(); len(tenants) == 0 {
			t.Error("disconnect did not invalidate the routers")
		}
		body := text(b.get("/admin/integrations").Body)
		if !strings.Contains(body, "revoked at the CRM and deleted here") || !strings.Contains(body, "Reconnect") {
			t.Errorf("after disconnect: %s", body)
		}
		b.post(base+"/sync", nil)
		if body := text(b.get("/admin/integrations").Body); !strings.Contains(body, "is disconnected: connect it again") {
			t.Errorf("sync of a disconnected account: %s", body)
		}
	})
}
