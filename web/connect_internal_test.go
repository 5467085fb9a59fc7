package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	_ "github.com/crmsync/crmsync/connectors/all" // amocrm, hubspot
	"github.com/crmsync/crmsync/jobs"
	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
)

// noStore is an AdminStore for tests that never reach it.
type noStore struct{}

func (noStore) AdminLogins(context.Context, string) ([]AdminLogin, error) { return nil, nil }
func (noStore) RecentCalls(context.Context, int64, int) ([]jobs.CallStatus, error) {
	return nil, nil
}
func (noStore) LinkAccount(context.Context, int64, LinkedAccount) (Account, error) {
	return Account{}, telephony.Errorf(telephony.EInternal, "", "must not be called")
}
func (noStore) DisconnectAccount(context.Context, int64, int64) error { return nil }

// TestConnect_MissingVerifier: a link attempt of a PKCE connector whose
// flow lacks the verifier is refused before the code is exchanged, and an
// authorisation server refuses an exchange without it.
func TestConnect_MissingVerifier(t *testing.T) {
	db := storetest.MustOpen(t)
	ctx := context.Background()
	tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "T", Region: "UA"})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := db.CreateEmployee(ctx, tn.ID, telephony.EmployeeInput{FullName: "Admin", Email: "admin@t.example.com",
		Role: telephony.RoleAdministrator, Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	tokenCalls := 0
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tokenCalls++ }))
	defer fake.Close()
	s := &Server{Tenants: db, Directory: db, Admin: AdminConfig{
		SessionKey: []byte("0123456789abcdef0123456789abcdef"), BaseURL: "http://crmsync.test", Store: noStore{},
		OAuth:      map[string]*oauth2.Config{"hubspot": {ClientID: "id", ClientSecret: "secret"}},
		APIBaseURL: map[string]string{"hubspot": fake.URL},
	}}
	h := s.Handler()
	sess, err := s.Admin.signer().sign(purposeSession, session{EmployeeID: admin.ID, TenantID: tn.ID, Role: admin.Role,
		Expires: time.Now().Add(time.Hour).Unix(), CSRF: "csrf"})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := s.Admin.signer().sign(purposeFlow, oauthFlow{State: "st", Connector: "hubspot", TenantID: tn.ID,
		EmployeeID: admin.ID, APIBase: fake.URL, Expires: time.Now().Add(time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/connect/hubspot/callback?code=c&state=st", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: sess})
	req.AddCookie(&http.Cookie{Name: flowCookie, Value: flow})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "PKCE code verifier of this link attempt is missing") {
		t.Errorf("flow without a verifier: %d %s", rec.Code, rec.Body)
	}
	if tokenCalls != 0 {
		t.Errorf("the code was sent to the token endpoint %d times", tokenCalls)
	}

	// The authorisation server's side: a code issued for a challenge is
	// refused without the verifier, and the page says so.
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Shutdown()
	cfg := &oauth2.Config{ClientID: m.ClientID, ClientSecret: m.ClientSecret, RedirectURL: "http://crmsync.test/cb",
		Scopes: []string{"openid"}, Endpoint: oauth2.Endpoint{AuthURL: m.AuthorizationEndpoint(), TokenURL: m.TokenEndpoint(),
			AuthStyle: oauth2.AuthStyleInParams}}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(cfg.AuthCodeURL("st", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	_, err = s.exchange(ctx, connectors.Info{}, cfg, loc.Query().Get("code"), "")
	if err == nil {
		t.Fatal("mockoidc exchanged a code without its verifier")
	}
	msg := exchangeError(connectors.Info{DisplayName: "OIDC"}, err).Error()
	if !strings.Contains(msg, "Nothing was linked: OIDC refused the authorisation code (invalid_grant") || !strings.Contains(msg, "verifier") {
		t.Errorf("exchange without a verifier: %s", msg)
	}
}

func TestSigner(t *testing.T) {
	s := signer{key: []byte("0123456789abcdef0123456789abcdef")}
	v, err := s.sign(purposeSession, session{EmployeeID: 1, TenantID: 2, Role: "administrator", Expires: 3, CSRF: "c"})
	if err != nil {
		t.Fatal(err)
	}
	var got session
	if err := s.open(purposeSession, v, &got); err != nil || got.EmployeeID != 1 || got.TenantID != 2 {
		t.Fatalf("open: %+v %v", got, err)
	}
	payload, mac, _ := strings.Cut(v, ".")
	forged, _ := signer{key: []byte("another key of thirty-two bytes!")}.sign(purposeSession, got)
	for name, bad := range map[string]string{
		"OtherPurpose": v,
		"Tampered":     "x" + payload + "." + mac,
		"NoMAC":        payload,
		"OtherKey":     forged,
	} {
		purpose := purposeSession
		if name == "OtherPurpose" {
			purpose = purposeFlow
		}
		if err := s.open(purpose, bad, &got); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func TestCallbackBase(t *testing.T) {
	amo, err := connectors.Lookup("amocrm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, referer, want string
		ok                  bool
	}{
		{"AmoSubdomain", "acme.amocrm.ru", "https://acme.amocrm.ru", true},
		{"KommoSubdomain", "acme.kommo.com", "https://acme.kommo.com", true},
		{"ErrOtherDomain", "evil.example.com", "", false},
		{"ErrLookalike", "acme.amocrm.ru.evil.example", "", false},
		{"ErrPath", "acme.amocrm.ru/x", "", false},
		{"ErrUserinfo", "me@acme.amocrm.ru", "", false},
		{"None", "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := callbackBase(amo, "", url.Values{"referer": {tc.referer}})
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("callbackBase(%q) = %q, %v", tc.referer, got, err)
			}
		})
	}
	if got, _ := callbackBase(amo, "http://127.0.0.1:1", url.Values{"referer": {"evil.example.com"}}); got != "http://127.0.0.1:1" {
		t.Errorf("a configured base is overridden by the callback: %q", got)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/admin/calls":         "/admin/calls",
		"/connect/x/callback":  "/connect/x/callback",
		"//evil.example/admin": "/admin/",
		"https://evil.example": "/admin/",
		"/admin/\r\nX: y":      "/admin/",
		"":                     "/admin/",
		"/api/v1/tenant":       "/admin/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestScheduleText(t *testing.T) {
	slot := func(d time.Weekday, start, end string) telephony.Slot {
		return telephony.Slot{Weekday: d, Start: start, End: end}
	}
	for _, tc := range []struct {
		name  string
		slots []telephony.Slot
		want  string
	}{
		{"None", nil, ""},
		{"Weekdays", []telephony.Slot{slot(1, "09:00", "18:00"), slot(2, "09:00", "18:00"), slot(3, "09:00", "18:00"),
			slot(4, "09:00", "18:00"), slot(5, "09:00", "18:00")}, "Mon–Fri 09:00–18:00"},
		{"Split", []telephony.Slot{slot(1, "09:00", "13:00"), slot(1, "14:00", "18:00"), slot(3, "09:00", "13:00")},
			"Mon 09:00–13:00, Mon 14:00–18:00, Wed 09:00–13:00"},
		{"Sunday", []telephony.Slot{slot(0, "10:00", "16:00")}, "Sun 10:00–16:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := scheduleText(tc.slots); got != tc.want {
				t.Errorf("scheduleText = %q, want %q", got, tc.want)
			}
		})
	}
}
