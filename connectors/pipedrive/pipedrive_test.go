package pipedrive_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/pipedrive"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
)

// accountID is the account the tests' clients belong to.
const accountID = 42

// fake is a running fake Pipedrive company with a client pointed at it.
type fake struct {
	b      *connectortest.Backend
	h      *pipedrivetest.Handler
	srv    *httptest.Server
	client *pipedrive.Client
}

// mustFake starts the fake over b, after applying opts to it. Every spec
// violation fails tb, so no test passes while the client sends (or the
// fake answers) something Pipedrive's documents reject. The client has a
// plain bearer HTTP client: 401 and 429 reach it as they are.
func mustFake(tb testing.TB, b *connectortest.Backend, opts ...func(*pipedrivetest.Handler)) *fake {
	tb.Helper()
	h, err := pipedrivetest.NewHandler(b)
	if err != nil {
		tb.Fatal(err)
	}
	h.OnViolation = func(err error) { tb.Errorf("spec violation: %v", err) }
	for _, opt := range opts {
		opt(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &fake{b: b, h: h, srv: srv, client: pipedrive.New(connectors.Credentials{
		AccountID:    accountID,
		BaseURL:      srv.URL,
		HTTPClient:   pipedrivetest.BearerClient(srv.Client(), h.AccessToken),
		ClientSecret: h.ClientSecret,
	})}
}

// seeded is mustFake over a seeded Backend.
func seeded(tb testing.TB, opts ...func(*pipedrivetest.Handler)) *fake {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	return mustFake(tb, b, opts...)
}

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Options{Name: pipedrive.Name},
		func(t *testing.T, b *connectortest.Backend) connectors.Connector {
			return mustFake(t, b).client
		})
}

func TestRegister(t *testing.T) {
	info, err := connectors.Lookup(pipedrive.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.DisplayName != "Pipedrive" || info.DefaultBaseURL != "" || info.PKCE || len(info.Kinds) != 3 ||
		len(info.Limits) != 1 || info.Refresh != nil {
		t.Errorf("info = %+v", info)
	}
	for _, base := range []string{"", "https://acme.pipedrive.com", "https://acme.pipedrive.com/"} {
		e := info.Endpoint(base)
		if e.AuthURL != pipedrive.AuthURL || e.TokenURL != pipedrive.TokenURL || e.AuthStyle != oauth2.AuthStyleInHeader {
			t.Errorf("Endpoint(%q) = %+v", base, e)
		}
	}
	e := info.Endpoint("http://127.0.0.1:8080/")
	if e.AuthURL != "http://127.0.0.1:8080/oauth/authorize" || e.TokenURL != "http://127.0.0.1:8080/oauth/token" {
		t.Errorf("Endpoint(test server) = %+v", e)
	}
	c, err := info.New(connectors.Credentials{BaseURL: "https://acme.pipedrive.com"})
	if err != nil || c == nil {
		t.Fatalf("New = %v, %v", c, err)
	}
}

func TestBaseURL(t *testing.T) {
	tok := (&oauth2.Token{AccessToken: "a"}).WithExtra(map[string]any{"api_domain": "https://acme.pipedrive.com/"})
	if got := pipedrive.BaseURL(tok); got != "https://acme.pipedrive.com" {
		t.Errorf("BaseURL = %q", got)
	}
	if got := pipedrive.BaseURL(&oauth2.Token{AccessToken: "a"}); got != "" {
		t.Errorf("BaseURL without api_domain = %q", got)
	}
	if got := pipedrive.BaseURL(nil); got != "" {
		t.Errorf("BaseURL(nil) = %q", got)
	}
}
