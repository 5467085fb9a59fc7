package siprouter

import (
	"context"

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
// Record is called from a single goroutine, after the answer was sent and
// never on the SIP path. While it is slow, decisions queue up
// (Server.RecordQueue); once the queue is full they are dropped and counted
// in crmsync_router_records_dropped_total. An INVITE retransmitted after a
// lost stateless answer is answered, and recorded, again: de-duplicate by
// sipCallID.
type Recorder interface {
	Record(d telephony.Decision, sipCallID string)
}

// record is one queued Recorder call.
type record struct {
	d      telephony.Decision
	callID string
}

// record queues d for the Recorder without ever blocking.
func (s *Server) record(d telephony.Decision, callID string) {
	if s.Recorder == nil {
		return
	}
	select {
	case s.records <- record{d, callID}:
	default:
		s.m.recordsDropped.Inc()
	}
}

// drainRecords feeds queued decisions to the Recorder until Close, then
// records what is still queued and returns. Decisions queued after that
// (from a TCP reader sipgo has not stopped yet) stay in the buffer unrecorded
// rather than panic on a closed channel.
func (s *Server) drainRecords() {
	defer close(s.recordsDone)
	for {
		select {
		case r := <-s.records:
			s.Recorder.Record(r.d, r.callID)
		case <-s.stopRecords:
			for {
				select {
				case r := <-s.records:
					s.Recorder.Record(r.d, r.callID)
				default:
					return
				}
			}
		}
	}
}
