package amocrm_test

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
)

func BenchmarkClient_FindByPhone(b *testing.B) {
	be := connectortest.NewBackend()
	connectortest.Seed(be)
	c, _ := MustServe(b, be)
	for _, kind := range []connectors.EntityKind{connectors.KindContact, connectors.KindDeal} {
		b.Run(string(kind), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.FindByPhone(b.Context(), kind, connectortest.Phone); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkClient_LogCall(b *testing.B) {
	be := connectortest.NewBackend()
	connectortest.Seed(be)
	c, _ := MustServe(b, be)
	call := connectors.CallActivity{ExternalCallID: "bench", Direction: connectors.Inbound,
		From: connectortest.Phone, Duration: 95 * time.Second, Answered: true, AnsweredBy: "2", Responsible: "2",
		Entity: &connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"}, RecordingURL: "https://rec.example.com/1.mp3"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.LogCall(b.Context(), call); err != nil {
			b.Fatal(err)
		}
	}
}
