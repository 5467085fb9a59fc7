package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/config"
	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony"
)

// e2eScenario is the PBX's side of one call: an INVITE from [caller] to
// [did] with sipp's Call-ID (-cid_str), an optional 100 Trying, then STATUS, whose
// time from the INVITE is response time 1; ACTIONS check it. Then it ACKs.
const e2eScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="crmsync end-to-end call">
  <send retrans="500" start_rtd="1">
    <![CDATA[

INVITE sip:[did]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[caller]@[local_ip]>;tag=[pid]-[call_number]
To: <sip:[did]@[remote_ip]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:pbx@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

    ]]>
  </send>

  <recv response="100" optional="true"/>
  <recv response="STATUS" rtd="1">
    <action>
      ACTIONS
    </action>
  </recv>
  <Reference variables="checked"/>

  <send>
    <![CDATA[

ACK sip:[did]@[remote_ip]:[remote_port] SIP/2.0
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

// e2eCall is one sipp call's outcome.
type e2eCall struct {
	exit int
	rt   time.Duration // INVITE → final response, as sipp measured it
	out  string
}

// sippE2E runs one call with sipp against target and expects status; for
// a 302, contacts is a POSIX regexp the Contact headers must match, in
// order; for others no Contact may come.
func sippE2E(t *testing.T, target, transport, caller, did, callID string, status int, contacts string) e2eCall {
	t.Helper()
	dir := t.TempDir()
	action := `<ereg regexp="Contact:" search_in="msg" check_it_inverse="true" assign_to="checked"/>`
	if contacts != "" {
		action = `<ereg regexp="` + html.EscapeString(contacts) + `" search_in="msg" check_it="true" assign_to="checked"/>`
	}
	sf := filepath.Join(dir, "call.xml")
	xml := strings.NewReplacer("STATUS", strconv.Itoa(status), "ACTIONS", action).Replace(e2eScenario)
	if err := os.WriteFile(sf, []byte(xml), 0o600); err != nil {
		t.Fatal(err)
	}
	port := func() string {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
	}
	stat := filepath.Join(dir, "stat.csv")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", target, "-sf", sf, "-t", transport, "-i", "127.0.0.1", "-p", port(), "-cp", port(),
		"-m", "1", "-l", "1", "-key", "caller", caller, "-key", "did", did, "-cid_str", callID+"-%u@%s",
		"-nostdin", "-trace_err", "-trace_stat", "-stf", stat, "-fd", "1", "-recv_timeout", "5s", "-timeout", "15s", "-timeout_error")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("sipp: %v\n%s", err, out)
	}
	run := e2eCall{exit: cmd.ProcessState.ExitCode(), rt: -1, out: string(out)}
	if logs, _ := filepath.Glob(filepath.Join(dir, "*_errors.log")); len(logs) > 0 {
		b, _ := os.ReadFile(logs[0])
		run.out += "\nerrors.log:\n" + string(b)
	}
	if f, err := os.Open(stat); err == nil {
		r := csv.NewReader(f)
		r.Comma, r.FieldsPerRecord = ';', -1
		rows, _ := r.ReadAll()
		f.Close()
		if len(rows) >= 2 {
			last := rows[len(rows)-1]
			for i, name := range rows[0] {
				if name == "ResponseTime1(C)" && i < len(last) {
					run.rt = sippDuration(strings.TrimSpace(last[i]))
				}
			}
		}
	}
	return run
}

// sippDuration parses a sipp time statistic (HH:MM:SS:mmmuuu).
func sippDuration(s string) time.Duration {
	parts := strings.Split(s, ":")
	if len(parts) != 4 {
		return -1
	}
	var d time.Duration
	for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
		n, _ := strconv.Atoi(parts[i])
		d += time.Duration(n) * unit
	}
	us, _ := strconv.Atoi(parts[3])
	return d + time.Duration(us)*time.Microsecond
}

// TestRouterE2E runs web, worker and router in one Main (as serve does) on
// the test store and Redis against the amoCRM fake, links the CRM users by
// a sync through the API, and calls the router with sipp as the PBX:
// a known caller (a lookup, then the cache), unknown and anonymous
// callers, a webhook that moves the client to another manager, and a CRM
// slower than the tenant's deadline.
func TestRouterE2E(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		if testenv.CI() {
			t.Fatal("sipp is required in CI: apt-get install -y sip-tester")
		}
		t.Skip("sipp not found: install it with apt-get install -y sip-tester")
	}
	ctx := context.Background()
	cfg := config.Default()
	cfg.HTTPAddr = freeAddr(t)
	cfg.SIPAddr = freeAddr(t)
	cfg.DataDir = t.TempDir()
	cfg.RedisURL = testenv.RedisURL(t)
	if testenv.HasPostgres() || testenv.CI() {
		cfg.DatabaseURL = testenv.PostgresDSN(t)
		cfg.SecretKey = config.Secret(strings.Repeat("k", 32))
	}
	cfg.OAuth["amocrm"] = config.OAuthApp{ClientID: amocrmtest.ClientID, ClientSecret: amocrmtest.ClientSecret}
	m := &Main{Config: cfg, Roles: []role{roleWeb, roleWorker, roleRouter}, Migrate: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := m.Run(ctx); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})

	const (
		did      = "+380441234567"
		known    = "+380671234567"
		deadline = 400 * time.Millisecond
	)
	backend := connectortest.NewBackend()
	backend.AddUsers(
		connectors.User{ID: "11", Name: "Anna Bilyk", Email: "anna@acme.example", Active: true},
		connectors.User{ID: "12", Name: "Bohdan Savchuk", Email: "bohdan@acme.example", Active: true},
	)
	contact := func(id, resp, phone string) connectortest.Record {
		return connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, ID: id, Title: "Client " + id,
			ResponsibleUserID: resp, Phones: []string{phone}}}
	}
	backend.AddRecords(contact("101", "11", "+38 067 123 45 67"), contact("102", "12", "+380 93 555 44 33"))
	amo := amocrmtest.NewServer(backend)
	t.Cleanup(amo.Close)

	tn, creds, err := m.DB.CreateTenant(ctx, telephony.NewTenant{Name: "Acme", Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		t.Fatal(err)
	}
	routing := telephony.DefaultRouting()
	routing.Order = []string{"contact"} // one CRM request a lookup: amo allows 7 a second
	routing.Deadline = telephony.Millis(deadline / time.Millisecond)
	if err := m.DB.UpdateRouting(ctx, tn.ID, routing); err != nil {
		t.Fatal(err)
	}
	if _, err := m.DB.CreateNumber(ctx, tn.ID, telephony.NumberInput{Number: did}); err != nil {
		t.Fatal(err)
	}
	for _, in := range []telephony.EmployeeInput{
		{FullName: "Anna Bilyk", Email: "anna@acme.example", MainContacts: []string{"sip:anna@pbx.example.com", "+380501110001"}},
		{FullName: "Bohdan Savchuk", Email: "bohdan@acme.example", MainContacts: []string{"+380501110002"}},
	} {
		if _, err := m.DB.CreateEmployee(ctx, tn.ID, in); err != nil {
			t.Fatal(err)
		}
	}
	acct, err := m.DB.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: "amocrm", Name: "amo", ExternalID: "1",
		BaseURL: amo.URL, Token: amo.IssueToken(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}

	base := m.Web.URL()
	call := func(method, path, contentType, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+creds.APIKey)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The user sync links both CRM users to the employees by email.
	if code, out := call("POST", fmt.Sprintf("/api/v1/accounts/%d/sync", acct.ID), "", ""); code != 202 {
		t.Fatalf("sync: %d %s", code, out)
	}
	for until := time.Now().Add(15 * time.Second); ; {
		links, err := m.DB.AccountLinks(ctx, tn.ID, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		linked := 0
		for _, l := range links {
			if l.EmployeeID != nil {
				linked++
			}
		}
		if linked == 2 {
			break
		}
		if time.Now().After(until) {
			t.Fatalf("CRM users not linked within 15 s: %+v", links)
		}
		time.Sleep(50 * time.Millisecond) // polling the worker's sync
	}

	target := cfg.SIPAddr
	const (
		anna   = `Contact: <sip:anna@pbx\.example\.com>;q=1\.0[[:space:]]+Contact: <sip:\+380501110001@[^>]+;user=phone>;q=0\.9`
		bohdan = `Contact: <sip:\+380501110002@[^>]+;user=phone>;q=1\.0`
	)
	n := 0
	sipCall := func(t *testing.T, transport, caller string, status int, contacts string) (e2eCall, string) {
		t.Helper()
		n++
		callID := fmt.Sprintf("e2e-%d-%d", time.Now().UnixNano(), n)
		run := sippE2E(t, target, transport, caller, did, callID, status, contacts)
		callID += "-1@127.0.0.1"
		if run.exit != 0 {
			t.Fatalf("call from %s: sipp exit %d, want %d\n%s", caller, run.exit, status, run.out)
		}
		return run, callID
	}
	// recorded waits for the router's record of a call (flushed every 200 ms).
	recorded := func(t *testing.T, callID string) telephony.Decision {
		t.Helper()
		for until := time.Now().Add(5 * time.Second); ; {
			d, _, err := m.DB.DecisionByCallID(ctx, tn.ID, callID)
			if err == nil {
				return d
			}
			if time.Now().After(until) {
				t.Fatalf("decision for %s not recorded: %v", callID, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("UDP/KnownCaller", func(t *testing.T) {
		_, id := sipCall(t, "u1", known, 302, anna)
		if d := recorded(t, id); d.Outcome != telephony.OutcomeRouted || d.CRMUserID != "11" || d.Cache != telephony.CacheMiss {
			t.Errorf("first call recorded %+v, want routed to CRM user 11 after a lookup", d)
		}
		_, id = sipCall(t, "u1", known, 302, anna)
		if d := recorded(t, id); d.Cache == telephony.CacheMiss {
			t.Errorf("second call recorded %+v, want a cached answer", d)
		}
	})
	t.Run("TCP/KnownCaller", func(t *testing.T) {
		_, id := sipCall(t, "t1", known, 302, anna)
		if d := recorded(t, id); d.Cache == telephony.CacheMiss {
			t.Errorf("call over TCP recorded %+v, want a cached answer", d)
		}
	})
	t.Run("UDP/UnknownCaller", func(t *testing.T) {
		sipCall(t, "u1", "+380509876543", 404, "")
	})
	t.Run("UDP/AnonymousCaller", func(t *testing.T) {
		run, _ := sipCall(t, "u1", "anonymous", 404, "")
		if run.rt < 0 || run.rt > 100*time.Millisecond {
			t.Errorf("404 for an anonymous caller after %v, want at once", run.rt)
		}
	})
	t.Run("TCP/AnonymousCaller", func(t *testing.T) {
		sipCall(t, "t1", "anonymous", 404, "")
	})
	t.Run("UDP/Webhook", func(t *testing.T) {
		if err := backend.UpdateRecord("101", func(r *connectortest.Record) { r.ResponsibleUserID = "12" }); err != nil {
			t.Fatal(err)
		}
		form := url.Values{
			"contacts[responsible][0][id]":                  {"101"},
			"contacts[responsible][0][responsible_user_id]": {"12"},
			"account[id]": {"1"},
		}
		code, out := call("POST", fmt.Sprintf("/hooks/amocrm/%d", acct.ID), "application/x-www-form-urlencoded", form.Encode())
		if code != 200 || !strings.Contains(out, `"changes":1`) {
			t.Fatalf("webhook: %d %s", code, out)
		}
		// Invalidations travel through Redis to the router: the next calls
		// go to Bohdan once they have arrived.
		var run e2eCall
		for until := time.Now().Add(5 * time.Second); ; {
			callID := fmt.Sprintf("e2e-hook-%d", time.Now().UnixNano())
			run = sippE2E(t, target, "u1", known, did, callID, 302, bohdan)
			if run.exit == 0 {
				break
			}
			if time.Now().After(until) {
				t.Fatalf("calls still not routed to Bohdan 5 s after the webhook:\n%s", run.out)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("UDP/SlowCRM", func(t *testing.T) {
		const slow = "+380935554433" // contact 102, Bohdan's
		backend.Inject(connectortest.Fault{Delay: deadline + 600*time.Millisecond})
		run, id := sipCall(t, "u1", slow, 404, "")
		// The answer is the tenant's deadline after the INVITE (sipp
		// measures in whole milliseconds), give or take the scheduler.
		t.Logf("fallback %v after the INVITE", run.rt)
		if run.rt < deadline-20*time.Millisecond || run.rt > deadline+50*time.Millisecond {
			t.Errorf("fallback %v after the INVITE, want the %v deadline", run.rt, deadline)
		}
		if d := recorded(t, id); d.Outcome != telephony.OutcomeFallback {
			t.Errorf("slow call recorded %+v, want the fallback", d)
		}
		// The lookup goes on after the deadline and warms the cache.
		q := "/api/v1/route?" + url.Values{"caller": {slow}, "did": {did}}.Encode()
		for until := time.Now().Add(5 * time.Second); ; {
			code, out := call("GET", q, "", "")
			var d struct {
				Cache     telephony.Cache `json:"cache"`
				CRMUserID string          `json:"crm_user_id"`
			}
			if code != 200 || json.Unmarshal([]byte(out), &d) != nil {
				t.Fatalf("route: %d %s", code, out)
			}
			if d.Cache != telephony.CacheMiss {
				if d.CRMUserID != "12" {
					t.Fatalf("warmed answer %s, want CRM user 12", out)
				}
				break
			}
			if time.Now().After(until) {
				t.Fatalf("cache not warm 5 s after the slow call: %s", out)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_, id = sipCall(t, "u1", slow, 302, bohdan)
		if d := recorded(t, id); d.Cache == telephony.CacheMiss || d.CRMUserID != "12" {
			t.Errorf("call after the slow one recorded %+v, want Bohdan from the cache", d)
		}
	})
}
