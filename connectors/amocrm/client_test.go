package amocrm_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// seedCompany adds a company holding the suite's phone, with a deal.
func seedCompany(b *connectortest.Backend) {
	b.AddRecords(
		connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact, ID: "40001",
			Title: "ООО Ромашка", ResponsibleUserID: "20", Phones: []string{"+7 916 123 4567"}}, Company: true},
		connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindDeal, ID: "40002",
			Title: "Company deal", ResponsibleUserID: "21"}, Links: []string{"40001"}},
	)
}

func TestClient_FindByPhone(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	seedCompany(b)
	c, _ := MustServe(t, b)
	t.Run("Companies", func(t *testing.T) {
		got, err := c.FindByPhone(t.Context(), connectors.KindContact, connectortest.Phone)
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, e := range got {
			ids = append(ids, e.ID+"@"+e.ResponsibleUserID)
		}
		if diff := cmp.Diff([]string{"10001@2", "10002@3", "10003@4", "company:40001@20"}, ids); diff != "" {
			t.Errorf("contacts (-want +got):\n%s", diff)
		}
		deals, err := c.FindByPhone(t.Context(), connectors.KindDeal, connectortest.Phone)
		if err != nil || len(deals) != 3 {
			t.Fatalf("deals = %v, %v; want 3 including the company's", deals, err)
		}
	})
	t.Run("ErrUnsupported", func(t *testing.T) {
		if _, err := c.FindByPhone(t.Context(), connectors.KindLead, connectortest.Phone); !errors.Is(err, connectors.ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	})
}

func TestClient_LogCall(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	seedCompany(b)
	c, _ := MustServe(t, b)
	call := connectors.CallActivity{ExternalCallID: "c1", Direction: connectors.Outbound, From: "+74951112233",
		Duration: 30 * time.Second, AnsweredBy: "2", Responsible: "2"}
	t.Run("ByPhone", func(t *testing.T) { // no entity: amo files it on the contact holding the phone
		ref, err := c.LogCall(t.Context(), connectors.CallActivity{ExternalCallID: "c0", Direction: connectors.Inbound,
			From: connectortest.Phone, Duration: time.Minute, Answered: true, AnsweredBy: "3"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"entity_type": "contacts", "entity_id": "10001"}, ref.Extra); diff != "" {
			t.Errorf("ref.Extra (-want +got):\n%s", diff)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) { // amo keeps no call for an unknown number
		if _, err := c.LogCall(t.Context(), call); !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("Company", func(t *testing.T) {
		call := call
		call.Entity = &connectors.EntityRef{Kind: connectors.KindContact, ID: "company:40001"}
		ref, err := c.LogCall(t.Context(), call)
		if err != nil {
			t.Fatal(err)
		}
		rec, _ := b.Call(ref.ID)
		if rec.Call.Entity == nil || *rec.Call.Entity != *call.Entity || rec.Call.Direction != connectors.Outbound {
			t.Fatalf("recorded %+v", rec.Call)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) { // amo refuses a deleted responsible user
		call := call
		call.Entity = &connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"}
		call.Responsible = "9999"
		if _, err := c.LogCall(t.Context(), call); !errors.Is(err, connectors.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
}

func TestClient_LogCalls(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	c, _ := MustServe(t, b)
	var calls []connectors.CallActivity
	for i := range 120 {
		call := connectors.CallActivity{ExternalCallID: string(rune('a' + i%26)), Direction: connectors.Inbound,
			From: connectortest.Phone, Duration: time.Second}
		switch i % 3 {
		case 0:
			call.Entity = &connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"}
		case 1:
			call.Entity = &connectors.EntityRef{Kind: connectors.KindContact, ID: "10002"}
		}
		calls = append(calls, call)
	}
	res, err := c.LogCalls(t.Context(), calls)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || r.Ref.ID == "" {
			t.Fatalf("result %d = %+v", i, r)
		}
	}
	// 40 each for leads notes, contacts notes and /calls: one request each.
	for key, want := range map[string]int{
		"POST /api/v4/leads/notes": 1, "POST /api/v4/contacts/notes": 1, "POST /api/v4/calls": 1,
	} {
		if got := b.Requests(key); got != want {
			t.Errorf("%s: %d requests, want %d", key, got, want)
		}
	}
	t.Run("PartialFailure", func(t *testing.T) {
		b.Inject(connectortest.Fault{Status: 500}) // fails the first group only
		res, err := c.LogCalls(t.Context(), calls[:2])
		if err != nil {
			t.Fatalf("err = %v, want per-call errors", err)
		}
		if res[0].Err == nil || res[1].Err != nil || res[1].Ref.ID == "" {
			t.Fatalf("results = %+v, want the first failed and the second written", res)
		}
	})
}

func TestClient_CountOwned(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	seedCompany(b)
	c, _ := MustServe(t, b)
	got, err := c.CountOwned(t.Context(), "20")
	if err != nil || got[connectors.KindContact] != 1 || got[connectors.KindDeal] != 0 {
		t.Fatalf("CountOwned(20) = %v, %v; want the company", got, err)
	}
}

func TestClient_ListUsers(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	c, _ := MustServe(t, b)
	users, err := c.ListUsers(t.Context())
	if err != nil || len(users) != connectortest.SeedUsers {
		t.Fatalf("ListUsers = %d users, %v", len(users), err)
	}
	if got := b.Requests("GET /api/v4/users"); got != 3 { // 250 + 250 + 100
		t.Fatalf("%d pages read, want 3", got)
	}
}
