package hubspot_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/hubspot"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
)

// fake is a running fake HubSpot with a client pointed at it.
type fake struct {
	h      *hubspottest.Handler
	srv    *httptest.Server
	client *hubspot.Client
}

// mustFake starts the fake over b, after applying opts to it. Every spec
// violation fails tb, so no test passes while the client sends (or the
// fake answers) something HubSpot's documents reject.
func mustFake(tb testing.TB, b *connectortest.Backend, opts ...func(*hubspottest.Handler)) *fake {
	tb.Helper()
	h, err := hubspottest.NewHandler(b)
	if err != nil {
		tb.Fatal(err)
	}
	h.OnViolation = func(err error) { tb.Errorf("spec violation: %v", err) }
	for _, opt := range opts {
		opt(h)
	}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return &fake{h: h, srv: srv, client: hubspot.New(connectors.Credentials{
		BaseURL:      srv.URL,
		HTTPClient:   bearerClient(srv, h.AccessToken),
		ClientSecret: h.ClientSecret,
	})}
}

// bearerClient sends token with every request, as the production
// transport does.
func bearerClient(srv *httptest.Server, token string) *http.Client {
	return &http.Client{Transport: &oauth2.Transport{
		Source: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token}),
		Base:   srv.Client().Transport,
	}}
}

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestConformance(t *testing.T) {
	connectortest.Run(t, connectortest.Options{Name: hubspot.Name},
		func(t *testing.T, b *connectortest.Backend) connectors.Connector {
			return mustFake(t, b).client
		})
}

func TestRegister(t *testing.T) {
	info, err := connectors.Lookup(hubspot.Name)
	if err != nil {
		t.Fatal(err)
	}
	if info.DefaultBaseURL != hubspot.DefaultBaseURL || !info.PKCE || len(info.Kinds) != 3 {
		t.Errorf("info = %+v", info)
	}
	def := info.Endpoint(hubspot.DefaultBaseURL)
	if def.AuthURL != "https://app.hubspot.com/oauth/authorize" || def.TokenURL != "https://api.hubapi.com/oauth/v3/token" ||
		def.AuthStyle != oauth2.AuthStyleInParams {
		t.Errorf("default endpoint = %+v", def)
	}
	if test := info.Endpoint("http://127.0.0.1:9/"); test.TokenURL != "http://127.0.0.1:9/oauth/v3/token" {
		t.Errorf("test endpoint = %+v", test)
	}
	search, _ := http.NewRequest("POST", "https://api.hubapi.com/crm/v3/objects/contacts/search", nil)
	owners, _ := http.NewRequest("GET", "https://api.hubapi.com/crm/v3/owners", nil)
	var searchLimits, ownerLimits int
	for _, l := range info.Limits {
		if l.Match == nil || l.Match(search) {
			searchLimits++
		}
		if l.Match == nil || l.Match(owners) {
			ownerLimits++
		}
	}
	if searchLimits != 2 || ownerLimits != 1 {
		t.Errorf("limits: search under %d, owners under %d; want 2 and 1", searchLimits, ownerLimits)
	}
}

func TestClient_FindByPhone(t *testing.T) {
	t.Run("Mobile", func(t *testing.T) {
		b := connectortest.NewBackend()
		b.AddUsers(connectors.User{ID: "7", Name: "Ann Lee", Email: "ann@example.com", Active: true})
		b.AddRecords(connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, ID: "501",
			Title: "Max Mobile", ResponsibleUserID: "7", Phones: []string{"+44 20 7946 0000", "+7 916 765-43-21"}}})
		f := mustFake(t, b)
		got, err := f.client.FindByPhone(ctx(t), connectors.KindContact, "+79167654321")
		if err != nil || len(got) != 1 || got[0].ID != "501" || got[0].ResponsibleUserID != "7" || got[0].Title != "Max Mobile" {
			t.Fatalf("FindByPhone = %+v, %v", got, err)
		}
	})
	t.Run("ErrUnsupported", func(t *testing.T) {
		f := mustFake(t, connectortest.NewBackend())
		if _, err := f.client.FindByPhone(ctx(t), "company", connectortest.Phone); !errors.Is(err, connectors.ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	})
	t.Run("ManyContacts", func(t *testing.T) {
		// More matching contacts than one association search can name.
		b := connectortest.NewBackend()
		var want []string
		for i := range 12 {
			id := 600 + i
			b.AddRecords(
				connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, ID: strconv.Itoa(id), Phones: []string{"+7 916 123 45 67"}}},
				connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, ID: strconv.Itoa(id + 100)}, Links: []string{strconv.Itoa(id)}},
			)
			want = append(want, strconv.Itoa(id+100))
		}
		f := mustFake(t, b)
		got, err := f.client.FindByPhone(ctx(t), connectors.KindDeal, connectortest.Phone)
		if err != nil || len(got) != len(want) {
			t.Fatalf("FindByPhone = %d deals, %v; want %d", len(got), err, len(want))
		}
		if n := b.Requests("POST /crm/v3/objects/0-3/search"); n != 3 {
			t.Errorf("%d deal searches, want 3 (5 contacts each)", n)
		}
	})
}
