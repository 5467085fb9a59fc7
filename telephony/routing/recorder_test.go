package routing_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/store/storetest"
	"github.com/crmsync/crmsync/telephony"
	"github.com/crmsync/crmsync/telephony/routing"
)

func TestRecorder(t *testing.T) {
	db := storetest.MustOpen(t)
	tn, _, err := db.CreateTenant(context.Background(), telephony.NewTenant{Name: "Rec"})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	rec := &routing.Recorder{Store: db, FlushInterval: time.Hour, BatchSize: 4, Registerer: reg}
	if err := rec.Open(); err != nil {
		t.Fatal(err)
	}
	first := telephony.Decision{Outcome: telephony.OutcomeRouted, Reason: "first", TenantID: tn.ID, Cache: telephony.CacheLocal}
	second := first
	second.Reason = "retransmission"
	rec.Record(first, "call-1")
	rec.Record(second, "call-1") // the same INVITE answered twice
	rec.Record(first, "call-2")
	rec.Record(first, "")                                                   // no call id: not kept
	rec.Record(telephony.Decision{Outcome: telephony.OutcomeFallback}, "x") // no tenant: not kept
	rec.Record(first, "call-3")                                             // the fourth kept decision fills the batch: written now
	eventually(t, "the full batch was written", func() bool {
		_, _, err := db.DecisionByCallID(context.Background(), tn.ID, "call-3")
		return err == nil
	})
	rec.Record(first, "call-4")
	if err := rec.Close(); err != nil { // flushes call-4
		t.Fatal(err)
	}
	for _, id := range []string{"call-1", "call-2", "call-3", "call-4"} {
		d, _, err := db.DecisionByCallID(context.Background(), tn.ID, id)
		if err != nil || d.Reason != "first" {
			t.Errorf("%s: %+v, %v; want the first decision", id, d, err)
		}
	}
	if n := recordsCounted(t, reg, "written"); n != 5 { // call-1 twice, the store kept one
		t.Errorf("written counted: %v, want 5", n)
	}
}

// A slow store never blocks Record.
func TestRecorder_SlowStore(t *testing.T) {
	store := &blockingStore{release: make(chan struct{})}
	rec := &routing.Recorder{Store: store, FlushInterval: time.Millisecond, MaxPending: 10}
	if err := rec.Open(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 1000 {
		rec.Record(telephony.Decision{TenantID: 1}, time.Duration(i).String())
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("1000 Records took %s while the store hung", took)
	}
	close(store.release)
	rec.Close()
}

type blockingStore struct{ release chan struct{} }

func (s *blockingStore) RecordDecisions(ctx context.Context, batch []telephony.CallDecision) error {
	<-s.release
	return errors.New("store was down")
}

// recordsCounted reads crmsync_routing_records_total{result}.
func recordsCounted(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "crmsync_routing_records_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
