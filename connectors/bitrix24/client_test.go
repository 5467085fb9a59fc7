package bitrix24_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/bitrix24"
	"github.com/crmsync/crmsync/connectors/bitrix24/bitrix24test"
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

func ids(es []connectors.Entity) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID+"@"+e.ResponsibleUserID)
	}
	return out
}

func TestClient_FindByPhone(t *testing.T) {
	want := map[connectors.EntityKind][]string{
		connectors.KindContact: {"10001@2", "10002@3", "10003@4", "company:40001@20"},
		connectors.KindDeal:    {"20001@10", "20002@11", "40002@21"},
		connectors.KindLead:    {"30001@14", "30002@15"},
	}
	for _, tc := range []struct {
		name     string
		scopes   []string
		requests int // search (+ findbycomm), batch
	}{{"SearchCrmEntities", []string{"crm", "telephony", "user"}, 2}, {"FindByComm", []string{"crm", "user"}, 3}} {
		t.Run(tc.name, func(t *testing.T) {
			b := connectortest.NewBackend()
			connectortest.Seed(b)
			seedCompany(b)
			c, srv := MustServe(t, b)
			srv.Scopes = tc.scopes
			for kind, w := range want {
				before := b.Requests("")
				got, err := c.FindByPhone(t.Context(), kind, connectortest.Phone)
				if err != nil {
					t.Fatalf("FindByPhone(%s): %v", kind, err)
				}
				if diff := cmp.Diff(w, ids(got)); diff != "" {
					t.Errorf("FindByPhone(%s) (-want +got):\n%s", kind, diff)
				}
				if n := b.Requests("") - before; n != tc.requests {
					t.Errorf("FindByPhone(%s): %d requests, want %d", kind, n, tc.requests)
				}
			}
		})
	}
	t.Run("Closed", func(t *testing.T) {
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, _ := MustServe(t, b)
		leads, err := c.FindByPhone(t.Context(), connectors.KindLead, connectortest.Phone)
		if err != nil || len(leads) != 2 || leads[0].Closed || !leads[1].Closed {
			t.Fatalf("leads = %+v, %v; want 30001 open and 30002 (junk) closed", leads, err)
		}
		if leads[0].Title != "New lead" || leads[0].UpdatedAt.IsZero() || len(leads[0].Phones) != 1 {
			t.Errorf("lead = %+v, want its title, phones and DATE_MODIFY", leads[0])
		}
	})
	t.Run("Concurrent", func(t *testing.T) { // the kinds fanned out share one search
		b := connectortest.NewBackend()
		connectortest.Seed(b)
		c, _ := MustServe(t, b)
		var wg sync.WaitGroup
		for range 5 {
			for kind := range want {
				wg.Go(func() {
					got, err := c.FindByPhone(t.Context(), kind, connectortest.Phone)
					if err != nil || len(got) != len(connectortest.Want(kind)) {
						t.Errorf("FindByPhone(%s) = %v, %v", kind, ids(got), err)
					}
				})
			}
		}
		wg.Wait()
	})
	t.Run("ErrUnsupported", func(t *testing.T) {
		c, _ := MustServe(t, connectortest.NewBackend())
		if _, err := c.FindByPhone(t.Context(), "ticket", connectortest.Phone); !errors.Is(err, connectors.ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	})
}

func TestClient_ListUsers(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	b.AddUsers(connectors.User{ID: "700", Name: "Anna Operator", Email: "anna@example.com", Active: true,
		Phones: []string{"101", "+7 495 111-22-33", "+7 916 000-00-01"}})
	c, _ := MustServe(t, b)
	users, err := c.ListUsers(t.Context())
	if err != nil || len(users) != connectortest.SeedUsers+1 {
		t.Fatalf("ListUsers = %d users, %v", len(users), err)
	}
	if got := b.Requests("POST /rest/user.get") + b.Requests("POST /rest/batch"); got != 2 {
		t.Errorf("%d requests for 13 pages, want 2 (the first page, then one batch)", got)
	}
	want := connectors.User{ID: "700", Name: "Anna Operator", Email: "anna@example.com", Active: true,
		Phones: []string{"101", "+7 495 111-22-33", "+7 916 000-00-01"}}
	if diff := cmp.Diff(want, users[len(users)-1]); diff != "" {
		t.Errorf("user with an extension (-want +got):\n%s", diff)
	}
}

func TestClient_CreateTask(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	seedCompany(b)
	c, _ := MustServe(t, b)
	due := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	t.Run("Company", func(t *testing.T) {
		task := connectors.Task{ResponsibleUserID: "20", Text: "Call back",
			Entity: &connectors.EntityRef{Kind: connectors.KindContact, ID: "company:40001"}, Due: due}
		id, err := c.CreateTask(t.Context(), task)
		if err != nil {
			t.Fatal(err)
		}
		got := b.Tasks()[0]
		got.Task.Due = got.Task.Due.UTC()
		if diff := cmp.Diff(connectortest.TaskRecord{ID: id, Task: task}, got); diff != "" {
			t.Errorf("task (-want +got):\n%s", diff)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := c.CreateTask(t.Context(), connectors.Task{Text: "x", Due: due,
			Entity: &connectors.EntityRef{Kind: connectors.KindDeal, ID: "99999"}})
		if !errors.Is(err, connectors.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("ErrUnsupported", func(t *testing.T) { // a to-do needs a record
		if _, err := c.CreateTask(t.Context(), connectors.Task{Text: "x", Due: due}); !errors.Is(err, connectors.ErrUnsupported) {
			t.Fatalf("err = %v, want ErrUnsupported", err)
		}
	})
}

func TestClient_Errors(t *testing.T) {
	t.Run("QueryLimitExceeded", func(t *testing.T) {
		b := connectortest.NewBackend()
		c, srv := MustServe(t, b)
		now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		srv.Now = func() time.Time { return now }
		srv.Limit = bitrix24test.DefaultQueryLimit
		lookup := func() error {
			_, err := c.FindByPhone(t.Context(), connectors.KindContact, connectortest.UnknownPhone)
			return err
		}
		for i := range 50 { // the burst
			if err := lookup(); err != nil {
				t.Fatalf("request %d: %v", i+1, err)
			}
		}
		err := lookup()
		rl, ok := errors.AsType[*connectors.RateLimitError](err)
		if !ok || rl.RetryAfter != time.Second {
			t.Fatalf("request 51: err = %v, want *RateLimitError retrying after 1s", err)
		}
		now = now.Add(time.Second) // drains two
		for i := range 2 {
			if err := lookup(); err != nil {
				t.Fatalf("after a second, request %d: %v", i+1, err)
			}
		}
		if _, ok := errors.AsType[*connectors.RateLimitError](lookup()); !ok {
			t.Fatal("a third request within the second went through")
		}
	})
	t.Run("ExpiredToken", func(t *testing.T) {
		b := connectortest.NewBackend()
		srv := bitrix24test.NewServer(b)
		t.Cleanup(srv.Close)
		tok := srv.IssueToken(time.Now().Add(-time.Minute))
		hc := &http.Client{Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(tok), Base: srv.Client().Transport}}
		c := bitrix24.New(connectors.Credentials{BaseURL: srv.BaseURL(), HTTPClient: hc})
		_, err := c.ListUsers(t.Context())
		if !errors.Is(err, connectors.ErrUnauthorized) || !strings.Contains(err.Error(), "expired_token") {
			t.Fatalf("err = %v, want ErrUnauthorized (expired_token)", err)
		}
	})
}
