package hubspot_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/hubspot"
	"github.com/crmsync/crmsync/connectors/hubspot/hubspottest"
)

const (
	hookSecret = "app-secret"
	hookURL    = "https://crmsync.example.com/hooks/hubspot/42?x=1"
)

var hookNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func hookClient(secret string) *hubspot.Client {
	c := hubspot.New(connectors.Credentials{ClientSecret: secret})
	c.Now = func() time.Time { return hookNow }
	return c
}

func hookEvents() []hubspottest.WebhookEvent {
	return []hubspottest.WebhookEvent{
		{SubscriptionType: "contact.propertyChange", ObjectID: 10001, PropertyName: "hubspot_owner_id", PropertyValue: "7"},
		{SubscriptionType: "deal.propertyChange", ObjectID: 20001, PropertyName: "hubspot_owner_id", PropertyValue: ""},
		{SubscriptionType: "object.propertyChange", ObjectTypeID: "0-136", ObjectID: 30001, PropertyName: "hubspot_owner_id", PropertyValue: "9"},
		{SubscriptionType: "contact.propertyChange", ObjectID: 10002, PropertyName: "mobilephone", PropertyValue: "+7 916 000-00-01"},
		{SubscriptionType: "contact.propertyChange", ObjectID: 10002, PropertyName: "firstname", PropertyValue: "Anna"},
		{SubscriptionType: "deal.deletion", ObjectID: 20002},
		{SubscriptionType: "contact.merge", ObjectID: 10003, MergedObjectIDs: []int64{10003, 10004}},
		{SubscriptionType: "deal.associationChange", ObjectID: 20003},
		{SubscriptionType: "object.propertyChange", ObjectTypeID: "2-123", ObjectID: 5, PropertyName: "hubspot_owner_id", PropertyValue: "1"},
		{SubscriptionType: "company.propertyChange", ObjectID: 6, PropertyName: "hubspot_owner_id", PropertyValue: "1"},
	}
}

func TestClient_ParseWebhook(t *testing.T) {
	wantChanges := []connectors.Change{
		{Kind: connectors.KindContact, EntityID: "10001", ResponsibleUserID: "7"},
		{Kind: connectors.KindDeal, EntityID: "20001"},
		{Kind: connectors.KindLead, EntityID: "30001", ResponsibleUserID: "9"},
		{Kind: connectors.KindContact, EntityID: "10002", Phones: []string{"+7 916 000-00-01"}},
		{Kind: connectors.KindDeal, EntityID: "20002", Deleted: true},
		{Kind: connectors.KindContact, EntityID: "10003"},
		{Kind: connectors.KindContact, EntityID: "10004", Deleted: true},
		{Kind: connectors.KindDeal, EntityID: "20003"},
	}
	t.Run("OK", func(t *testing.T) {
		req, body, err := hubspottest.NewWebhookRequest(hookURL, hookSecret, hookEvents(), hookNow.Add(-time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		got, err := hookClient(hookSecret).ParseWebhook(req, body)
		if err != nil {
			t.Fatalf("ParseWebhook: %v", err)
		}
		if diff := cmp.Diff(wantChanges, got); diff != "" {
			t.Errorf("changes mismatch (-want +got):\n%s", diff)
		}
	})
	t.Run("BehindProxy", func(t *testing.T) {
		// HubSpot signed the public HTTPS URL; we see plain HTTP on an
		// internal host, with the proxy's forwarding headers.
		req, body, err := hubspottest.NewWebhookRequest(hookURL, hookSecret, hookEvents()[:1], hookNow)
		if err != nil {
			t.Fatal(err)
		}
		inner, _ := http.NewRequest("POST", "http://10.0.0.5:8080/hooks/hubspot/42?x=1", nil)
		inner.Header = req.Header.Clone()
		inner.Header.Set("X-Forwarded-Proto", "https")
		inner.Header.Set("X-Forwarded-Host", "crmsync.example.com")
		if _, err := hookClient(hookSecret).ParseWebhook(inner, body); err != nil {
			t.Fatalf("ParseWebhook: %v", err)
		}
	})
	unauthorized := []struct {
		name   string
		secret string
		at     time.Time
		edit   func(r *http.Request, body []byte) []byte
	}{
		{name: "WrongSecret", secret: "other-secret", at: hookNow},
		{name: "Stale", secret: hookSecret, at: hookNow.Add(-6 * time.Minute)},
		{name: "Future", secret: hookSecret, at: hookNow.Add(6 * time.Minute)},
		{name: "BodyChanged", secret: hookSecret, at: hookNow, edit: func(_ *http.Request, body []byte) []byte {
			return append([]byte(nil), append(body[:len(body)-1:len(body)-1], ' ', ']')...)
		}},
		{name: "URLChanged", secret: hookSecret, at: hookNow, edit: func(r *http.Request, body []byte) []byte {
			r.URL.RawQuery = "x=2"
			return body
		}},
		{name: "TimestampChanged", secret: hookSecret, at: hookNow, edit: func(r *http.Request, body []byte) []byte {
			r.Header.Set("X-HubSpot-Request-Timestamp", "1772445600001")
			return body
		}},
		{name: "NoSignature", secret: hookSecret, at: hookNow, edit: func(r *http.Request, body []byte) []byte {
			r.Header.Del("X-HubSpot-Signature-v3")
			return body
		}},
		{name: "NoTimestamp", secret: hookSecret, at: hookNow, edit: func(r *http.Request, body []byte) []byte {
			r.Header.Del("X-HubSpot-Request-Timestamp")
			return body
		}},
	}
	for _, tc := range unauthorized {
		t.Run(tc.name, func(t *testing.T) {
			req, body, err := hubspottest.NewWebhookRequest(hookURL, tc.secret, hookEvents(), tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if tc.edit != nil {
				body = tc.edit(req, body)
			}
			got, err := hookClient(hookSecret).ParseWebhook(req, body)
			if !errors.Is(err, connectors.ErrUnauthorized) || got != nil {
				t.Fatalf("ParseWebhook = %v, %v; want ErrUnauthorized", got, err)
			}
		})
	}
	t.Run("NoClientSecret", func(t *testing.T) {
		req, body, _ := hubspottest.NewWebhookRequest(hookURL, "", hookEvents(), hookNow)
		if _, err := hookClient("").ParseWebhook(req, body); !errors.Is(err, connectors.ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized (an empty secret verifies nothing)", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		req, _, _ := hubspottest.NewWebhookRequest(hookURL, hookSecret, nil, hookNow)
		body := []byte(`{"not":"an array"}`)
		ts := req.Header.Get("X-HubSpot-Request-Timestamp")
		req.Header.Set("X-HubSpot-Signature-v3", hubspottest.SignatureV3(hookSecret, "POST", hookURL, body, ts))
		if _, err := hookClient(hookSecret).ParseWebhook(req, body); !errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}
