package pipedrive_test

import (
	"math"
	"testing"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/connectors/pipedrive/pipedrivetest"
)

// The benchmarks run the client against the fake over loopback HTTP, so
// ns/op includes the fake's work; "Validated" also includes kin-openapi's
// validation of every request and response, "Bare" runs with it off. The
// fake's rate window is opened wide: the pacer would otherwise measure
// Pipedrive's limit.

func benchFake(b *testing.B, validated bool) *fake {
	be := connectortest.NewBackend()
	connectortest.Seed(be)
	return mustFake(b, be, func(h *pipedrivetest.Handler) {
		h.NoValidation = !validated
		h.RateLimit = math.MaxInt32
	})
}

func BenchmarkClient_FindByPhone(b *testing.B) {
	for _, validated := range []bool{true, false} {
		name := map[bool]string{true: "Validated", false: "Bare"}[validated]
		for _, kind := range []connectors.EntityKind{connectors.KindContact, connectors.KindDeal, connectors.KindLead} {
			b.Run(name+"/"+string(kind), func(b *testing.B) {
				f := benchFake(b, validated)
				c := ctx(b)
				b.ReportAllocs()
				for b.Loop() {
					got, err := f.client.FindByPhone(c, kind, connectortest.Phone)
					if err != nil || len(got) == 0 {
						b.Fatalf("FindByPhone = %v, %v", got, err)
					}
				}
			})
		}
	}
}

func BenchmarkClient_LogCall(b *testing.B) {
	for _, validated := range []bool{true, false} {
		name := map[bool]string{true: "Validated", false: "Bare"}[validated]
		b.Run(name, func(b *testing.B) {
			f := benchFake(b, validated)
			c := ctx(b)
			call := testCall(&connectors.EntityRef{Kind: connectors.KindDeal, ID: "20001"})
			call.Comment = "Wants a callback"
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.client.LogCall(c, call); err != nil {
					b.Fatalf("LogCall: %v", err)
				}
			}
		})
	}
}
