package bitrix24_test

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

func TestClient_ParseWebhook(t *testing.T) {
	h := bitrix24test.NewHandler(connectortest.NewBackend())
	c := bitrix24.New(connectors.Credentials{BaseURL: "https://acme.bitrix24.ru/rest/", WebhookSecret: bitrix24test.ApplicationToken})
	parse := func(c *bitrix24.Client, body string) ([]connectors.Change, error) {
		req := httptest.NewRequest("POST", "/hooks/bitrix24/42", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return c.ParseWebhook(req, []byte(body))
	}
	t.Run("OK", func(t *testing.T) {
		tests := []struct {
			event, id string
			want      []connectors.Change
		}{
			{"ONCRMLEADUPDATE", "30001", []connectors.Change{{Kind: connectors.KindLead, EntityID: "30001"}}},
			{"ONCRMDEALADD", "20001", []connectors.Change{{Kind: connectors.KindDeal, EntityID: "20001"}}},
			{"ONCRMCONTACTDELETE", "10001", []connectors.Change{{Kind: connectors.KindContact, EntityID: "10001", Deleted: true}}},
			{"OnCrmCompanyUpdate", "40001", []connectors.Change{{Kind: connectors.KindContact, EntityID: "company:40001"}}},
			{"ONCRMACTIVITYADD", "5", nil}, // not about a responsible user
			{"ONUSERADD", "9", nil},
			{"ONAPPINSTALL", "", nil}, // a reinstall's event with the stored token
		}
		for _, tt := range tests {
			got, err := parse(c, h.Event(tt.event, tt.id).Encode())
			if err != nil {
				t.Fatalf("%s: %v", tt.event, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.event, diff)
			}
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		forged := h.Event("ONCRMDEALUPDATE", "20001")
		forged.Set("auth[application_token]", "guessed")
		missing := h.Event("ONCRMDEALUPDATE", "20001")
		missing.Del("auth[application_token]")
		noToken := bitrix24.New(connectors.Credentials{BaseURL: "https://acme.bitrix24.ru/rest/"})
		for name, tc := range map[string]struct {
			c    *bitrix24.Client
			body string
		}{
			"WrongToken":    {c, forged.Encode()},
			"NoToken":       {c, missing.Encode()},
			"NoStoredToken": {noToken, h.Event("ONCRMDEALUPDATE", "20001").Encode()},
		} {
			if _, err := parse(tc.c, tc.body); !errors.Is(err, connectors.ErrUnauthorized) {
				t.Errorf("%s: err = %v, want ErrUnauthorized", name, err)
			}
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		if _, err := parse(c, "%zz"); !errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestClient_ClaimWebhookSecret(t *testing.T) {
	b := connectortest.NewBackend()
	srv := bitrix24test.NewServer(b)
	t.Cleanup(srv.Close)
	// A connector as the Resolver builds it for an account without a
	// secret: the verification must not send the account's own token.
	fresh := bitrix24.New(connectors.Credentials{BaseURL: srv.BaseURL(), HTTPClient: srv.APIClient()})
	claim := func(c *bitrix24.Client, v url.Values) (string, error) {
		body := v.Encode()
		req := httptest.NewRequest("POST", "/hooks/bitrix24/42", strings.NewReader(body))
		return c.ClaimWebhookSecret(req, []byte(body))
	}
	t.Run("OK", func(t *testing.T) {
		got, err := claim(fresh, srv.InstallEvent())
		if err != nil || got != bitrix24test.ApplicationToken {
			t.Fatalf("ClaimWebhookSecret = %q, %v; want the application token", got, err)
		}
		if n := srv.HeaderAuth(); n != 0 {
			t.Errorf("%d requests sent an Authorization header", n)
		}
	})
	t.Run("NotAnInstall", func(t *testing.T) {
		got, err := claim(fresh, srv.Event("ONCRMDEALUPDATE", "1"))
		if err != nil || got != "" {
			t.Fatalf("ClaimWebhookSecret = %q, %v; want nothing", got, err)
		}
	})
	t.Run("AlreadySet", func(t *testing.T) { // ParseWebhook checks it then
		set := bitrix24.New(connectors.Credentials{BaseURL: srv.BaseURL(), WebhookSecret: "stored"})
		got, err := claim(set, srv.InstallEvent())
		if err != nil || got != "" {
			t.Fatalf("ClaimWebhookSecret = %q, %v; want nothing", got, err)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		forged := srv.InstallEvent()
		forged.Set("auth[access_token]", "guessed")
		noAccess := srv.InstallEvent()
		noAccess.Del("auth[access_token]")
		for name, v := range map[string]url.Values{"ForgedAccessToken": forged, "NoAccessToken": noAccess} {
			if got, err := claim(fresh, v); !errors.Is(err, connectors.ErrUnauthorized) || got != "" {
				t.Errorf("%s: ClaimWebhookSecret = %q, %v; want ErrUnauthorized", name, got, err)
			}
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		v := srv.InstallEvent()
		v.Del("auth[application_token]")
		if got, err := claim(fresh, v); !errors.Is(err, connectors.ErrInvalid) || got != "" {
			t.Fatalf("ClaimWebhookSecret = %q, %v; want ErrInvalid", got, err)
		}
	})
	t.Run("PortalDown", func(t *testing.T) { // transient: neither kind
		b.Inject(connectortest.Fault{Status: 500, Times: 1})
		_, err := claim(fresh, srv.InstallEvent())
		if err == nil || errors.Is(err, connectors.ErrUnauthorized) || errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("err = %v, want a transient error", err)
		}
	})
}
