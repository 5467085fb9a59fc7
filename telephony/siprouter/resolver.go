package siprouter

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/telephony"
)

// Resolver says where a call goes. The router consumes it; the telephony
// resolver (in-process cache → Redis → live CRM lookup) provides it.
// Implementations must be safe for concurrent use.
//
// The resolver owns every routing rule: it normalises the raw numbers in
// the query (sip:/tel: user parts, separators, national formats) to E.164,
// finds the tenant by DID unless TenantID is set, answers anonymous or
// withheld callers (Caller "anonymous") with the tenant's fallback at once,
// and never fails: an error becomes a fallback Decision with a Reason.
type Resolver interface {
	// Cached answers from memory only. It runs on the goroutine that reads
	// the socket, so it must not block, do I/O or take more than a few
	// microseconds. ok is false when only a full lookup can answer; a
	// cached negative answer (unknown caller → fallback) is a hit.
	Cached(q telephony.RouteQuery) (d telephony.Decision, ok bool)

	// Resolve does the full lookup and returns by the tenant's deadline,
	// with the tenant's fallback when the CRM is slower; it may go on in the
	// background to warm the cache. ctx ends when the router shuts down or
	// stops waiting (Server.MaxWait). A CANCEL from the PBX does not end it,
	// so a lookup in flight still warms the cache for the caller's redial.
	Resolve(ctx context.Context, q telephony.RouteQuery) telephony.Decision
}

// Recorder keeps the decisions the router answered, e.g. for the call log
// or the route tester's history.
//
// Record is called once per answered call, right after the answer went
// out, on the goroutine that sent it: the socket reader for a cached
// answer. It must return at once and never wait on I/O — buffer, and write
// elsewhere (routing.Recorder appends to a slice under a mutex and drops,
// counted, what its store cannot take). It must be safe for concurrent use.
// An INVITE retransmitted after a lost stateless answer is answered, and
// recorded, again: de-duplicate by sipCallID.
type Recorder interface {
	Record(d telephony.Decision, sipCallID string)
}

// answered counts a call answered on path and tells the Recorder, if any.
// A decision without a Latency of its own (the resolver does not time its
// cache, and an overdue answer has none) is recorded with the router's:
// from the INVITE read to its answer sent.
func (s *Server) answered(d telephony.Decision, callID, path string, took time.Duration) {
	s.m.decided(d, path, took)
	if d.Latency == 0 {
		d.Latency = took
	}
	if s.Recorder != nil {
		s.Recorder.Record(d, callID)
	}
}
