package pipedrive_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/pipedrive"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
)

const (
	hookSecret = "app-secret"
	hookURL    = "https://crmsync.example.com/hooks/pipedrive/42"
)

func hookClient(secret string) *pipedrive.Client {
	return pipedrive.New(connectors.Credentials{AccountID: accountID, ClientSecret: secret})
}

func TestClient_ParseWebhook(t *testing.T) {
	user, pass := pipedrive.WebhookAuth(hookSecret, accountID)
	phones := func(vs ...string) []any {
		out := make([]any, len(vs))
		for i, v := range vs {
			out[i] = map[string]any{"value": v, "primary": i == 0, "label": "work"}
		}
		return out
	}
	cases := []struct {
		name string
		hook pipedrivetest.Webhook
		want []connectors.Change
	}{
		{"PersonOwnerChanged", pipedrivetest.Webhook{Action: "change", Entity: "person", EntityID: "10001",
			Data:     map[string]any{"id": 10001, "owner_id": 7, "phones": phones("+7 (916) 123-45-67")},
			Previous: map[string]any{"owner_id": 2}},
			[]connectors.Change{{Kind: connectors.KindContact, EntityID: "10001", ResponsibleUserID: "7",
				Phones: []string{"+7 (916) 123-45-67"}}}},
		{"PersonPhoneChanged", pipedrivetest.Webhook{Action: "change", Entity: "person", EntityID: "10002",
			Data:     map[string]any{"id": 10002, "owner_id": 3, "phones": phones("+7 916 000-00-01")},
			Previous: map[string]any{"phones": phones("8 916 123 45 67")}},
			[]connectors.Change{{Kind: connectors.KindContact, EntityID: "10002", ResponsibleUserID: "3",
				Phones: []string{"+7 916 000-00-01", "8 916 123 45 67"}}}},
		{"DealRenamed", pipedrivetest.Webhook{Action: "change", Entity: "deal", EntityID: "20001",
			Data: map[string]any{"id": 20001, "owner_id": 10, "title": "Bigger deal"}, Previous: map[string]any{"title": "Open deal"}},
			[]connectors.Change{}},
		{"DealWon", pipedrivetest.Webhook{Action: "change", Entity: "deal", EntityID: "20001",
			Data: map[string]any{"id": 20001, "owner_id": 10, "status": "won"}, Previous: map[string]any{"status": "open"}},
			[]connectors.Change{{Kind: connectors.KindDeal, EntityID: "20001", ResponsibleUserID: "10"}}},
		{"DealCreated", pipedrivetest.Webhook{Action: "create", Entity: "deal", EntityID: "20009",
			Data: map[string]any{"id": 20009, "owner_id": 11, "person_id": 10001}},
			[]connectors.Change{{Kind: connectors.KindDeal, EntityID: "20009", ResponsibleUserID: "11"}}},
		{"LeadDeleted", pipedrivetest.Webhook{Action: "delete", Entity: "lead", EntityID: "adf21080-0e10-11eb-879b-05d71fb426ec",
			Previous: map[string]any{"id": "adf21080-0e10-11eb-879b-05d71fb426ec", "owner_id": 14}},
			[]connectors.Change{{Kind: connectors.KindLead, EntityID: "adf21080-0e10-11eb-879b-05d71fb426ec", Deleted: true}}},
		{"ActivityIgnored", pipedrivetest.Webhook{Action: "create", Entity: "activity", EntityID: "5",
			Data: map[string]any{"id": 5, "owner_id": 2}},
			[]connectors.Change{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, body, err := pipedrivetest.NewWebhookRequest(hookURL, user, pass, tc.hook)
			if err != nil {
				t.Fatal(err)
			}
			got, err := hookClient(hookSecret).ParseWebhook(req, body)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClient_ParseWebhook_Auth(t *testing.T) {
	hook := pipedrivetest.Webhook{Action: "delete", Entity: "person", EntityID: "10001"}
	user, pass := pipedrive.WebhookAuth(hookSecret, accountID)
	_, otherPass := pipedrive.WebhookAuth(hookSecret, accountID+1)
	_, rotated := pipedrive.WebhookAuth("new-secret", accountID)
	cases := []struct {
		name, user, pass, secret string
		wantErr                  error
	}{
		{"OK", user, pass, hookSecret, nil},
		{"NoCredentials", "", "", hookSecret, connectors.ErrUnauthorized},
		{"WrongPassword", user, pass + "x", hookSecret, connectors.ErrUnauthorized},
		{"WrongUser", "admin", pass, hookSecret, connectors.ErrUnauthorized},
		{"OtherAccountsPassword", user, otherPass, hookSecret, connectors.ErrUnauthorized},
		{"SecretRotated", user, rotated, hookSecret, connectors.ErrUnauthorized},
		{"NoSecret", user, pass, "", connectors.ErrUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, body, err := pipedrivetest.NewWebhookRequest(hookURL, tc.user, tc.pass, hook)
			if err != nil {
				t.Fatal(err)
			}
			got, err := hookClient(tc.secret).ParseWebhook(req, body)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (len(got) == 1) {
				t.Fatalf("ParseWebhook = %v, %v; want %v", got, err, tc.wantErr)
			}
		})
	}
	t.Run("ErrInvalid", func(t *testing.T) {
		req, _, err := pipedrivetest.NewWebhookRequest(hookURL, user, pass, hook)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := hookClient(hookSecret).ParseWebhook(req, []byte(`{"meta":`)); !errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("malformed body: err = %v, want ErrInvalid", err)
		}
	})
}

func TestWebhookAuth(t *testing.T) {
	u1, p1 := pipedrive.WebhookAuth(hookSecret, 1)
	u2, p2 := pipedrive.WebhookAuth(hookSecret, 1)
	_, p3 := pipedrive.WebhookAuth(hookSecret, 2)
	if u1 != pipedrive.WebhookUser || u1 != u2 || p1 != p2 || p1 == p3 || len(p1) < 40 {
		t.Errorf("WebhookAuth: (%q, %q), (%q, %q), %q", u1, p1, u2, p2, p3)
	}
}
