package bitrix24_test

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

// The benchmarks run the client against the fake over loopback HTTP, so
// ns/op includes the fake's work.

func BenchmarkClient_FindByPhone(b *testing.B) {
	be := connectortest.NewBackend()
	connectortest.Seed(be)
	c, _ := MustServe(b, be)
	for _, kind := range []connectors.EntityKind{connectors.KindContact, connectors.KindDeal, connectors.KindLead} {
		b.Run(string(kind), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := c.FindByPhone(b.Context(), kind, connectortest.Phone); err != nil || len(got) == 0 {
					b.Fatalf("FindByPhone = %v, %v", got, err)
				}
			}
		})
	}
}

func BenchmarkClient_LogCall(b *testing.B) {
	be := connectortest.NewBackend()
	connectortest.Seed(be)
	c, _ := MustServe(b, be)
	// One ExternalCallID throughout: each call is finished before the next
	// registers, so the fake does not hand its CALL_ID out again.
	call := connectors.CallActivity{ExternalCallID: "bench", Direction: connectors.Inbound,
		From: connectortest.Phone, Duration: 95 * time.Second, Answered: true, AnsweredBy: "2", Responsible: "2",
		Entity: &connectors.EntityRef{Kind: connectors.KindContact, ID: "10001"}, RecordingURL: "https://rec.example.com/1.mp3",
		Comment: "Wants a callback"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.LogCall(b.Context(), call); err != nil {
			b.Fatal(err)
		}
	}
}
