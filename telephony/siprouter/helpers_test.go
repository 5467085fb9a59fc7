package siprouter

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/telephony"
)

// fakeResolver is a hand-written Resolver: each method calls its Fn field.
// A nil CachedFn misses; a nil ResolveFn answers not_found.
type fakeResolver struct {
	CachedFn  func(q telephony.RouteQuery) (telephony.Decision, bool)
	ResolveFn func(ctx context.Context, q telephony.RouteQuery) telephony.Decision

	mu       sync.Mutex
	cached   []telephony.RouteQuery
	resolved []telephony.RouteQuery
}

func (r *fakeResolver) Cached(q telephony.RouteQuery) (telephony.Decision, bool) {
	r.mu.Lock()
	r.cached = append(r.cached, q)
	r.mu.Unlock()
	if r.CachedFn == nil {
		return telephony.Decision{}, false
	}
	return r.CachedFn(q)
}

func (r *fakeResolver) Resolve(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
	r.mu.Lock()
	r.resolved = append(r.resolved, q)
	r.mu.Unlock()
	if r.ResolveFn == nil {
		return notFound("no such caller")
	}
	return r.ResolveFn(ctx, q)
}

// calls returns copies of the queries Cached and Resolve got.
func (r *fakeResolver) calls() (cached, resolved []telephony.RouteQuery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]telephony.RouteQuery(nil), r.cached...), append([]telephony.RouteQuery(nil), r.resolved...)
}

// tableResolver caches the given decisions by caller; other callers miss.
func tableResolver(routes map[string]telephony.Decision) *fakeResolver {
	return &fakeResolver{CachedFn: func(q telephony.RouteQuery) (telephony.Decision, bool) {
		d, ok := routes[q.Caller]
		return d, ok
	}}
}

func routed(contacts ...string) telephony.Decision {
	return telephony.Decision{Outcome: telephony.OutcomeRouted, Contacts: contacts,
		Reason: "responsible manager of lead 42", Cache: telephony.CacheLocal}
}

func notFound(reason string) telephony.Decision {
	return telephony.Decision{Outcome: telephony.OutcomeFallback, Fallback: telephony.FallbackNotFound, Reason: reason}
}

func unavailable(reason string) telephony.Decision {
	return telephony.Decision{Outcome: telephony.OutcomeFallback, Fallback: telephony.FallbackUnavailable, Reason: reason}
}

// record is one Record call.
type record struct {
	d      telephony.Decision
	callID string
}

// fakeRecorder sends every Record call to a channel.
type fakeRecorder struct{ ch chan record }

func newFakeRecorder() *fakeRecorder { return &fakeRecorder{ch: make(chan record, 100)} }

func (r *fakeRecorder) Record(d telephony.Decision, callID string) { r.ch <- record{d, callID} }

// next waits for the next Record call.
func (r *fakeRecorder) next(tb testing.TB) record {
	tb.Helper()
	select {
	case rec := <-r.ch:
		return rec
	case <-time.After(5 * time.Second):
		tb.Fatal("no decision recorded within 5s")
		return record{}
	}
}

// handlerHarness runs a Server's handlers without sockets: stateless
// responses are captured, transactions are siptest recorders.
type handlerHarness struct {
	s *Server

	mu   sync.Mutex
	sent []*sip.Response
	txs  []*siptest.ServerTxRecorder
}

// MustHandlerServer returns a Server set up for handler tests.
func MustHandlerServer(tb testing.TB, r Resolver, rec Recorder) *handlerHarness {
	tb.Helper()
	h := &handlerHarness{s: &Server{Resolver: r, Recorder: rec, Registerer: prometheus.NewRegistry(),
		ContactHost: "", MaxWait: 5 * time.Second}}
	if err := h.s.init(); err != nil {
		tb.Fatal(err)
	}
	h.s.write = func(_ *sip.Request, b []byte) error {
		msg, err := sip.ParseMessage(append([]byte(nil), b...))
		if err != nil {
			return fmt.Errorf("router wrote an unparsable response: %w\n%s", err, b)
		}
		h.mu.Lock()
		h.sent = append(h.sent, msg.(*sip.Response))
		h.mu.Unlock()
		return nil
	}
	h.s.newTx = func(req *sip.Request, _ string) (serverTx, error) {
		tx := siptest.NewServerTxRecorder(req)
		h.mu.Lock()
		h.txs = append(h.txs, tx)
		h.mu.Unlock()
		return tx, nil
	}
	tb.Cleanup(func() { _ = h.s.Close() })
	return h
}

// responses returns what was sent statelessly so far.
func (h *handlerHarness) responses() []*sip.Response {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*sip.Response(nil), h.sent...)
}

// transactions returns the transactions made so far.
func (h *handlerHarness) transactions() []*siptest.ServerTxRecorder {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*siptest.ServerTxRecorder(nil), h.txs...)
}

// statuses lists the status codes of rs.
func statuses(rs []*sip.Response) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.StatusCode)
	}
	return out
}

// headerValues lists the values of every header called name in m.
func headerValues(m sip.Message, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

// request is a SIP request as text; Parse fills the blanks.
type request struct {
	Method  string // INVITE by default
	URI     string // Request-URI; sip:+380441234567@pbx.example.com by default
	From    string // From value; <sip:+380501112233@pbx.example.com>;tag=f1 by default
	To      string // To value; <sip:+380441234567@pbx.example.com> by default
	CallID  string // call-1 by default
	CSeq    string // "1 INVITE" by default, the method following
	Branch  string // z9hG4bK-1 by default
	Via     string // whole top Via value; SIP/2.0/UDP 10.1.1.1:5070;branch=<Branch> by default
	Headers []string
}

// text renders r with CRLF line ends.
func (r request) text() string {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	method := def(r.Method, "INVITE")
	lines := []string{
		method + " " + def(r.URI, "sip:+380441234567@pbx.example.com") + " SIP/2.0",
		"Via: " + def(r.Via, "SIP/2.0/UDP 10.1.1.1:5070;branch="+def(r.Branch, "z9hG4bK-1")),
		"From: " + def(r.From, "<sip:+380501112233@pbx.example.com>;tag=f1"),
		"To: " + def(r.To, "<sip:+380441234567@pbx.example.com>"),
		"Call-ID: " + def(r.CallID, "call-1"),
		"CSeq: " + def(r.CSeq, "1 "+method),
		"Max-Forwards: 70",
	}
	lines = append(lines, r.Headers...)
	return strings.Join(lines, "\r\n") + "\r\nContent-Length: 0\r\n\r\n"
}

// MustParse parses r as if it came over UDP from 127.0.0.1:5070.
func (r request) MustParse(tb testing.TB) *sip.Request {
	tb.Helper()
	msg, err := sip.ParseMessage([]byte(r.text()))
	if err != nil {
		tb.Fatalf("parse request: %v\n%s", err, r.text())
	}
	req := msg.(*sip.Request)
	req.SetTransport("UDP")
	req.SetSource("127.0.0.1:5070")
	return req
}
