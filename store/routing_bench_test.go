package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/crmsync/crmsync/internal/testenv"
	"github.com/crmsync/crmsync/telephony"
)

// BenchmarkDB_RecordDecisions compares the two ways RecordDecisions writes
// a router batch of 500 decisions to PostgreSQL, in the same run: "copy"
// (binary COPY, the normal path) against "insert" (the multi-row INSERT …
// ON CONFLICT DO NOTHING it falls back to when a call was recorded
// before). ns/row is the whole round trip per decision, client and server;
// it is the figure to compare, as a ratio.
func BenchmarkDB_RecordDecisions(b *testing.B) {
	sealer, err := NewSealer("bench secret key, not for production use")
	if err != nil {
		b.Fatal(err)
	}
	db, err := Open(context.Background(), Options{URL: testenv.PostgresDSN(b), Sealer: sealer, Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	tenant, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Bench"})
	if err != nil {
		b.Fatal(err)
	}
	insert := func(ctx context.Context, rows []*telephony.CallDecision, now time.Time) error {
		return db.inTx(ctx, func(tx *sqlx.Tx) error { return insertDecisions(ctx, tx, rows, now) })
	}
	const rows = decisionBatch
	for _, m := range []struct {
		name  string
		write func(context.Context, []*telephony.CallDecision, time.Time) error
	}{{"copy", db.copyDecisions}, {"insert", insert}} {
		b.Run(m.name, func(b *testing.B) {
			prefix, n := testenv.RandomName(m.name), 0
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				batch := benchDecisions(tenant.ID, prefix, n, rows)
				n += rows
				b.StartTimer()
				if err := m.write(ctx, decisionRows(batch), db.Now()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/row")
		})
	}
}

// benchDecisions is a batch of n cached-path decisions like the router's,
// with call ids like sipp's.
func benchDecisions(tenantID int64, prefix string, from, n int) []telephony.CallDecision {
	batch := make([]telephony.CallDecision, n)
	for i := range n {
		c := from + i
		batch[i].CallID = fmt.Sprintf("%s-%d-48213@127.0.0.1", prefix, c)
		batch[i].Decision = telephony.Decision{Outcome: telephony.OutcomeRouted, Contacts: []string{"+380671234567"},
			Reason: "contact 41207 is owned by amoCRM user 8207 (employee 208)", TenantID: tenantID,
			Caller: fmt.Sprintf("+38050%07d", c%100000), DID: "+380441234567", AccountID: 1, EntityKind: "contact",
			EntityID: fmt.Sprint(41000 + c%90000), CRMUserID: fmt.Sprint(8000 + c%500), EmployeeID: int64(1 + c%500),
			Cache: telephony.CacheLocal, Latency: 9 * time.Microsecond}
	}
	return batch
}
