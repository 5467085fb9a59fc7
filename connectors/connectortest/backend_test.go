package connectortest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

func TestBackend_Search(t *testing.T) {
	b := connectortest.NewBackend()
	connectortest.Seed(b)
	var ids []string
	for _, r := range b.Search(connectors.KindContact, connectors.NationalDigits(connectortest.Phone)) {
		ids = append(ids, r.ID)
	}
	// Near-misses included on purpose: connectors must re-check.
	if diff := cmp.Diff([]string{"10001", "10002", "10003", "10004", "10005", "10007"}, ids); diff != "" {
		t.Errorf("Search (-want +got):\n%s", diff)
	}
	if got := b.Linked("10001", connectors.KindDeal); len(got) != 1 || got[0].ID != "20001" {
		t.Errorf("Linked(10001, deal) = %v", got)
	}
	if got := b.Linked("20001", connectors.KindContact); len(got) != 1 || got[0].ID != "10001" {
		t.Errorf("Linked(20001, contact) = %v", got)
	}
}

func TestBackend_Intercept(t *testing.T) {
	b := connectortest.NewBackend()
	b.Inject(connectortest.Fault{})                                        // one request passes
	b.Inject(connectortest.Fault{Status: http.StatusBadGateway, Times: 2}) // then two fail
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if b.Intercept(w, r, func(int) []byte { return []byte(`{"error":"x"}`) }) {
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	var got []int
	for range 4 {
		resp, err := http.Get(srv.URL + "/x")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	if diff := cmp.Diff([]int{200, 502, 502, 200}, got); diff != "" {
		t.Errorf("statuses (-want +got):\n%s", diff)
	}
	if b.Requests("GET /x") != 4 || b.Requests("") != 4 {
		t.Errorf("Requests = %d, %d; want 4", b.Requests("GET /x"), b.Requests(""))
	}
}
