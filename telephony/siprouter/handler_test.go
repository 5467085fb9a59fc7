package siprouter

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/telephony"
)

const knownCaller = "+380501112233"

func TestServer_Invite(t *testing.T) {
	tests := []struct {
		name        string
		decision    telephony.Decision
		contactHost string
		wantStatus  int
		wantReason  string
		wantContact []string
	}{
		{
			name:       "Routed",
			decision:   routed("+380671110001", "sip:alice@pbx.example.com", "tel:+380671110002"),
			wantStatus: 302, wantReason: "Moved Temporarily",
			wantContact: []string{
				"<sip:+380671110001@pbx.example.com;user=phone>;q=1.0",
				"<sip:alice@pbx.example.com>;q=0.9",
				"<tel:+380671110002>;q=0.8",
			},
		},
		{
			name:        "ContactHost",
			decision:    routed("+380671110001"),
			contactHost: "pbx.tenant.example",
			wantStatus:  302, wantReason: "Moved Temporarily",
			wantContact: []string{"<sip:+380671110001@pbx.tenant.example;user=phone>;q=1.0"},
		},
		{
			name: "Redirect",
			decision: telephony.Decision{Outcome: telephony.OutcomeRedirect, Contacts: []string{"sip:sales@pbx.example.com"},
				Reason: "manager on vacation"},
			wantStatus: 302, wantReason: "Moved Temporarily",
			wantContact: []string{"<sip:sales@pbx.example.com>;q=1.0"},
		},
		{
			name:       "UnusableContactsOnly",
			decision:   routed("sip:bad contact@x", "<sip:x@y>"),
			wantStatus: 480, wantReason: "Temporarily Unavailable",
		},
		{
			name:       "NotFound",
			decision:   notFound("caller not found in the CRM"),
			wantStatus: 404, wantReason: "Not Found",
		},
		{
			name:       "Unavailable",
			decision:   unavailable("manager is offline"),
			wantStatus: 480, wantReason: "Temporarily Unavailable",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newFakeRecorder()
			r := tableResolver(map[string]telephony.Decision{knownCaller: tt.decision})
			h := MustHandlerServer(t, r, rec)
			h.s.ContactHost = tt.contactHost

			h.s.handle(request{}.MustParse(t))

			sent := h.responses()
			if len(sent) != 1 {
				t.Fatalf("sent %d responses, want 1", len(sent))
			}
			res := sent[0]
			if res.StatusCode != tt.wantStatus || res.Reason != tt.wantReason {
				t.Errorf("status = %d %s, want %d %s", res.StatusCode, res.Reason, tt.wantStatus, tt.wantReason)
			}
			if diff := cmp.Diff(tt.wantContact, headerValues(res, "Contact")); diff != "" {
				t.Errorf("Contact (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{tt.decision.Reason}, headerValues(res, reasonHeader)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", reasonHeader, diff)
			}
			got := rec.next(t)
			if got.callID != "call-1" || got.d.Outcome != tt.decision.Outcome {
				t.Errorf("recorded %q %s, want call-1 %s", got.callID, got.d.Outcome, tt.decision.Outcome)
			}
			if _, resolved := r.calls(); len(resolved) != 0 {
				t.Errorf("Resolve called %d times on a cache hit", len(resolved))
			}
		})
	}
}

// TestServer_InviteHeaders checks what a stateless answer copies from the
// request (RFC 3261 §8.2.6).
func TestServer_InviteHeaders(t *testing.T) {
	h := MustHandlerServer(t, tableResolver(map[string]telephony.Decision{knownCaller: routed("+380671110001")}), nil)
	req := request{Headers: []string{"Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-proxy"}}

	h.s.handle(req.MustParse(t))
	h.s.handle(req.MustParse(t)) // a retransmission

	sent := h.responses()
	if len(sent) != 2 {
		t.Fatalf("sent %d responses, want 2", len(sent))
	}
	res := sent[0]
	want := map[string][]string{
		"Via": {
			"SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK-1;received=127.0.0.1",
			"SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-proxy",
		},
		"From":    {"<sip:+380501112233@pbx.example.com>;tag=f1"},
		"Call-ID": {"call-1"},
		"CSeq":    {"1 INVITE"},
	}
	for name, values := range want {
		if diff := cmp.Diff(values, headerValues(res, name)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	tag, ok := res.To().Params.Get("tag")
	if !ok || tag == "" {
		t.Fatalf("To has no tag: %s", res.To().Value())
	}
	if tag2, _ := sent[1].To().Params.Get("tag"); tag2 != tag {
		t.Errorf("retransmission answered with To tag %q, first answer had %q", tag2, tag)
	}
	other := request{Branch: "z9hG4bK-2", CallID: "call-2"}.MustParse(t)
	if toTag(other) == tag {
		t.Errorf("another call got the same To tag %q", tag)
	}
}

func TestServer_InviteAnonymous(t *testing.T) {
	r := &fakeResolver{} // nothing cached
	h := MustHandlerServer(t, r, nil)

	h.s.handle(request{From: `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=f1`}.MustParse(t))

	if got := statuses(h.responses()); !cmp.Equal(got, []int{404}) {
		t.Fatalf("statuses = %v, want [404]", got)
	}
	cached, resolved := r.calls()
	if len(cached) != 1 || cached[0].Caller != anonymousCaller {
		t.Errorf("Cached got %+v, want one query with caller %q", cached, anonymousCaller)
	}
	if len(resolved) != 0 {
		t.Errorf("Resolve called for an anonymous caller: %+v", resolved)
	}
}

func TestServer_InviteMiss(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		release := make(chan struct{})
		r := &fakeResolver{ResolveFn: func(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
			<-release
			return routed("+380671110001")
		}}
		rec := newFakeRecorder()
		h := MustHandlerServer(t, r, rec)

		h.s.handle(request{}.MustParse(t))
		txs := h.transactions()
		if len(txs) != 1 {
			t.Fatalf("made %d transactions, want 1", len(txs))
		}
		if got := statuses(txs[0].Result()); !cmp.Equal(got, []int{100}) {
			t.Fatalf("before the resolver answered: statuses = %v, want [100]", got)
		}

		h.s.handle(request{}.MustParse(t)) // retransmitted INVITE
		if got := statuses(txs[0].Result()); !cmp.Equal(got, []int{100, 100}) {
			t.Errorf("after a retransmission: statuses = %v, want [100 100]", got)
		}
		if n := len(h.transactions()); n != 1 {
			t.Errorf("retransmission made a transaction: %d", n)
		}

		close(release)
		got := rec.next(t)
		if got.d.Outcome != telephony.OutcomeRouted {
			t.Errorf("recorded %+v, want routed", got.d)
		}
		res := txs[0].Result()
		if got := statuses(res); len(got) < 3 || got[2] != 302 {
			t.Fatalf("statuses = %v, want [100 100 302 …]", got)
		}
		if diff := cmp.Diff([]string{"<sip:+380671110001@pbx.example.com;user=phone>;q=1.0"}, headerValues(res[2], "Contact")); diff != "" {
			t.Errorf("Contact (-want +got):\n%s", diff)
		}
		if tag, _ := res[2].To().Params.Get("tag"); tag != toTag(request{}.MustParse(t)) {
			t.Errorf("To tag = %q, want the stateless one %q", tag, toTag(request{}.MustParse(t)))
		}
		if _, resolved := r.calls(); len(resolved) != 1 || resolved[0].Caller != knownCaller {
			t.Errorf("Resolve got %+v, want one query for %s", resolved, knownCaller)
		}
		if len(h.responses()) != 0 {
			t.Errorf("a miss was answered statelessly: %v", statuses(h.responses()))
		}
	})

	t.Run("Overdue", func(t *testing.T) {
		r := &fakeResolver{ResolveFn: func(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
			<-ctx.Done() // a resolver that ignores its deadline
			return routed("+380671110001")
		}}
		rec := newFakeRecorder()
		h := MustHandlerServer(t, r, rec)
		h.s.MaxWait = 20 * time.Millisecond

		h.s.handle(request{}.MustParse(t))

		got := rec.next(t)
		if got.d.SIPStatus() != 404 || !strings.Contains(got.d.Reason, "in time") {
			t.Errorf("recorded %+v, want a not_found fallback for an overdue lookup", got.d)
		}
	})
}

func TestServer_Cancel(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		release := make(chan struct{})
		r := &fakeResolver{ResolveFn: func(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
			<-release
			return routed("+380671110001")
		}}
		h := MustHandlerServer(t, r, nil)
		h.s.handle(request{}.MustParse(t))

		h.s.handle(request{Method: "CANCEL"}.MustParse(t))

		if got := statuses(h.responses()); !cmp.Equal(got, []int{200}) {
			t.Errorf("CANCEL answered %v, want [200]", got)
		}
		tx := h.transactions()[0]
		if got := statuses(tx.Result()); !cmp.Equal(got, []int{100, 487}) {
			t.Errorf("INVITE answered %v, want [100 487]", got)
		}
		close(release)
		h.s.pending.lookups.Wait()
		if got := statuses(tx.Result()); got[len(got)-1] != 487 || len(got) > 2 && got[2] == 302 {
			t.Errorf("after the lookup returned: INVITE answered %v, want no 302 after 487", got)
		}
		h.s.handle(request{Method: "ACK", CSeq: "1 ACK"}.MustParse(t)) // the ACK for the 487
	})

	t.Run("ErrNoTransaction", func(t *testing.T) {
		h := MustHandlerServer(t, tableResolver(map[string]telephony.Decision{knownCaller: routed("+380671110001")}), nil)
		h.s.handle(request{}.MustParse(t)) // answered statelessly

		h.s.handle(request{Method: "CANCEL"}.MustParse(t))

		if got := statuses(h.responses()); !cmp.Equal(got, []int{302, 481}) {
			t.Errorf("statuses = %v, want [302 481]", got)
		}
	})
}

func TestServer_OtherMethods(t *testing.T) {
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantAllow  bool
	}{
		{name: "Options", req: request{Method: "OPTIONS"}, wantStatus: 200, wantAllow: true},
		{name: "Bye", req: request{Method: "BYE"}, wantStatus: 405, wantAllow: true},
		{name: "Register", req: request{Method: "REGISTER"}, wantStatus: 405, wantAllow: true},
		{name: "AckAbsorbed", req: request{Method: "ACK"}},
		{name: "ErrCSeqMismatch", req: request{Method: "INVITE", CSeq: "1 BYE"}, wantStatus: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := MustHandlerServer(t, &fakeResolver{}, nil)
			h.s.handle(tt.req.MustParse(t))

			sent := h.responses()
			if tt.wantStatus == 0 {
				if len(sent) != 0 {
					t.Fatalf("answered %v, want nothing", statuses(sent))
				}
				return
			}
			if len(sent) != 1 || sent[0].StatusCode != tt.wantStatus {
				t.Fatalf("answered %v, want [%d]", statuses(sent), tt.wantStatus)
			}
			var want []string
			if tt.wantAllow {
				want = []string{allow}
			}
			if diff := cmp.Diff(want, headerValues(sent[0], "Allow")); diff != "" {
				t.Errorf("Allow (-want +got):\n%s", diff)
			}
			if tag, _ := sent[0].To().Params.Get("tag"); tag == "" {
				t.Errorf("no To tag in %d", sent[0].StatusCode)
			}
		})
	}
}

// BenchmarkServer_Invite measures the stateless path from an INVITE's
// bytes to the response's, without the sockets, in the same run: the fast
// path (fastpath.go) and sipgo's parser with handle.
func BenchmarkServer_Invite(b *testing.B) {
	s := &Server{Resolver: mapResolver{knownCaller: routed("+380671110001")}}
	if err := s.init(); err != nil {
		b.Fatal(err)
	}
	s.write = func(*sip.Request, []byte) error { return nil }
	s.writeUDP = func([]byte, netip.AddrPort) error { return nil }
	raw := []byte(request{}.text())
	src := netip.MustParseAddrPort("127.0.0.1:5070")
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !s.fastInvite(raw, src) {
				b.Fatal("not answered on the fast path")
			}
		}
	})
	b.Run("sipgo", func(b *testing.B) {
		parser := sip.NewParser()
		b.ReportAllocs()
		for b.Loop() {
			msg, err := parser.ParseSIP(raw)
			if err != nil {
				b.Fatal(err)
			}
			msg.SetTransport("UDP")
			msg.SetSource(src.String())
			s.onMessage(msg)
		}
	})
}

// mapResolver caches decisions by caller and records nothing.
type mapResolver map[string]telephony.Decision

func (m mapResolver) Cached(q telephony.RouteQuery) (telephony.Decision, bool) {
	d, ok := m[q.Caller]
	return d, ok
}

func (m mapResolver) Resolve(_ context.Context, q telephony.RouteQuery) telephony.Decision {
	return m[q.Caller]
}
