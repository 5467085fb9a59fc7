package bitrix24_test

import (
	"errors"
	"net/http/httptest"
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
	c := bitrix24.New(connectors.Credentials{
		BaseURL: bitrix24.AccountBaseURL("https://acme.bitrix24.ru/rest/", bitrix24test.MemberID, bitrix24test.ApplicationToken)})
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
		other := h.Event("ONCRMDEALUPDATE", "20001")
		other.Set("auth[member_id]", "another-portal")
		missing := h.Event("ONCRMDEALUPDATE", "20001")
		missing.Del("auth[application_token]")
		noToken := bitrix24.New(connectors.Credentials{BaseURL: "https://acme.bitrix24.ru/rest/"})
		for name, tc := range map[string]struct {
			c    *bitrix24.Client
			body string
		}{
			"WrongToken":    {c, forged.Encode()},
			"OtherPortal":   {c, other.Encode()},
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
