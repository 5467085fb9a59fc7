package siprouter

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// onMessage is the transport layer's handler. It runs on the goroutine
// that read the message, so nothing here may block.
func (s *Server) onMessage(msg sip.Message) {
	req, ok := msg.(*sip.Request)
	if !ok {
		return // the router sends no requests, so no response is ours
	}
	s.handle(req)
}

// handle dispatches a request by method.
func (s *Server) handle(req *sip.Request) {
	if !complete(req) || req.CSeq().MethodName != req.Method {
		s.m.malformed.Inc()
		if complete(req) && req.Method != sip.ACK {
			s.reply(req, 400, "Bad Request")
		}
		return // without the headers, a response could not find its way
	}
	s.m.request(req.Method)
	switch req.Method {
	case sip.INVITE:
		s.handleInvite(req)
	case sip.ACK:
		s.handleAck(req)
	case sip.CANCEL:
		s.handleCancel(req)
	case sip.OPTIONS:
		s.reply(req, 200, "OK") // the PBX's health check
	default:
		s.reply(req, 405, "Method Not Allowed")
	}
}

// complete reports whether req has the headers a response is built from
// (RFC 3261 §8.1.1).
func complete(req *sip.Request) bool {
	return req.Via() != nil && req.From() != nil && req.To() != nil && req.CallID() != nil &&
		req.CSeq() != nil
}

// handleInvite answers an INVITE. A cached decision is answered at once and
// statelessly on this goroutine; a miss gets a transaction and a lookup.
func (s *Server) handleInvite(req *sip.Request) {
	start := time.Now()
	if s.pending.active() {
		// A retransmission of a call that is waiting on the resolver, or was
		// answered from its transaction, belongs to that transaction.
		if p := s.pending.get(txKey(req)); p != nil {
			_ = p.tx.Receive(req)
			return
		}
	}
	// Only trusted sources get this far (serveUDP, tcpListener), so the
	// source may assert the caller and the tenant.
	q, anonymous := routeQuery(req, true)
	d, ok := s.Resolver.Cached(q)
	if ok {
		s.m.cacheHits.Inc()
	} else {
		s.m.cacheMisses.Inc()
		if !anonymous {
			s.startLookup(req, q, start)
			return
		}
		d = anonymousDecision(q)
	}
	if err := s.sendDecision(req, d); err != nil {
		s.m.writeErrors.Inc()
		s.log.Debug("sip router: answer not sent", "sip_call_id", q.CallID, "error", err)
		return
	}
	s.answered(d, q.CallID, pathStateless, time.Since(start))
}
