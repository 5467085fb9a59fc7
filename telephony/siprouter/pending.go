package siprouter

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/crmsync/crmsync/telephony"
)

// serverTx is what the router needs of a sipgo server transaction;
// *sip.ServerTx and siptest's recorder satisfy it.
type serverTx interface {
	Respond(res *sip.Response) error
	Receive(req *sip.Request) error
	Terminate()
	OnTerminate(f sip.FnTxTerminate) bool
}

// pendingCall is an INVITE that missed the cache: its transaction
// retransmits the answers over UDP, absorbs retransmitted INVITEs (so
// they start no second lookup) and takes the ACK.
type pendingCall struct {
	tx  serverTx
	req *sip.Request

	// mu orders the final answer against a CANCEL. It is never held while
	// sipgo calls back into the router, so holding it around tx.Respond
	// cannot deadlock.
	mu    sync.Mutex
	final bool // a final response went out: the answer, or 487 after CANCEL
}

// finish sends res as the final response unless one went out already.
func (p *pendingCall) finish(res *sip.Response) (sent bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.final {
		return false, nil
	}
	p.final = true
	return true, p.tx.Respond(res)
}

// pendingCalls holds the transactions of cache misses, by txKey, from
// the INVITE until sipgo's timers end the transaction.
type pendingCalls struct {
	mu      sync.Mutex
	m       map[string]*pendingCall
	closed  bool
	n       atomic.Int64   // len(m), read without the lock on the fast path
	lookups sync.WaitGroup // running lookup goroutines
}

// active reports whether any transaction exists; while none does, the fast
// path skips computing keys and taking the lock.
func (ps *pendingCalls) active() bool { return ps.n.Load() > 0 }

func (ps *pendingCalls) get(key string) *pendingCall {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.m[key]
}

func (ps *pendingCalls) drop(key string) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.m[key]; ok {
		delete(ps.m, key)
		ps.n.Add(-1)
	}
}

// shut refuses new lookups, so Close can wait for the running ones.
func (ps *pendingCalls) shut() {
	ps.mu.Lock()
	ps.closed = true
	ps.mu.Unlock()
}

// terminateAll ends every transaction still waiting for an ACK. Terminate
// calls drop through OnTerminate, so it runs without the lock.
func (ps *pendingCalls) terminateAll() {
	ps.mu.Lock()
	txs := make([]serverTx, 0, len(ps.m))
	for _, p := range ps.m {
		txs = append(txs, p.tx)
	}
	ps.mu.Unlock()
	for _, tx := range txs {
		tx.Terminate()
	}
}

// txKey identifies an INVITE's transaction so that its retransmissions,
// its ACK (for a non-2xx answer) and its CANCEL find it: RFC 3261 §17.2.3
// matching by the top Via's branch and sent-by, or, for a pre-RFC 3261
// client without a magic-cookie branch, by Call-ID, From tag and CSeq.
func txKey(req *sip.Request) string {
	via := req.Via()
	branch, _ := via.Params.Get("branch")
	if len(branch) > len(sip.RFC3261BranchMagicCookie) && strings.HasPrefix(branch, sip.RFC3261BranchMagicCookie) {
		return branch + "|" + via.Host + ":" + strconv.Itoa(via.Port)
	}
	tag, _ := req.From().Params.Get("tag")
	return "|" + req.CallID().Value() + "|" + tag + "|" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
}

// startLookup answers a cache miss statefully: it makes the transaction,
// sends 100 Trying at once and resolves in the background. A retransmitted
// INVITE that raced past the fast path's check lands on the existing
// transaction instead of starting a second lookup.
func (s *Server) startLookup(req *sip.Request, q telephony.RouteQuery, start time.Time) {
	key := txKey(req)
	ps := &s.pending
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		// Shutting down: tell the PBX to try another router now rather than
		// let it wait for its timer.
		s.reply(req, 503, "Service Unavailable")
		return
	}
	if p, ok := ps.m[key]; ok {
		ps.mu.Unlock()
		_ = p.tx.Receive(req)
		return
	}
	tx, err := s.newTx(req, key)
	if err != nil {
		ps.mu.Unlock()
		s.m.writeErrors.Inc()
		s.log.Warn("sip router: cannot answer INVITE", "sip_call_id", q.CallID, "error", err)
		return
	}
	fixVia(req) // before the transaction writes its first response
	p := &pendingCall{tx: tx, req: req}
	ps.m[key] = p
	ps.n.Add(1)
	ps.lookups.Add(1)
	ps.mu.Unlock()
	if !tx.OnTerminate(func(key string, _ error) { ps.drop(key) }) {
		ps.drop(key)
	}

	if err := tx.Respond(s.trying(req)); err != nil {
		s.log.Debug("sip router: 100 Trying not sent", "sip_call_id", q.CallID, "error", err)
	}
	go s.lookup(p, q, start)
}

// lookup waits for the resolver, at most MaxWait, and answers.
func (s *Server) lookup(p *pendingCall, q telephony.RouteQuery, start time.Time) {
	defer s.pending.lookups.Done()
	s.m.pending.Inc()
	defer s.m.pending.Dec()

	ctx, cancel := context.WithTimeout(s.ctx, s.maxWait())
	defer cancel()
	answer := make(chan telephony.Decision, 1)
	go func() { answer <- s.Resolver.Resolve(ctx, q) }()
	var d telephony.Decision
	select {
	case d = <-answer:
	case <-ctx.Done():
		d = overdue(q)
	}

	sent, err := p.finish(s.finalResponse(p.req, d))
	if !sent {
		return // the PBX cancelled the call meanwhile
	}
	if err != nil {
		s.m.writeErrors.Inc()
		s.log.Warn("sip router: answer not sent", "sip_call_id", q.CallID, "error", err)
		return
	}
	s.answered(d, q.CallID, pathTransaction, time.Since(start))
}

// overdue is the answer when the resolver did not return in MaxWait or
// the server is closing.
func overdue(q telephony.RouteQuery) telephony.Decision {
	return telephony.Decision{
		Outcome:  telephony.OutcomeFallback,
		Fallback: telephony.FallbackNotFound,
		Reason:   "routing lookup did not answer in time",
		TenantID: q.TenantID,
		DID:      q.DID,
		Cache:    telephony.CacheMiss,
	}
}

// handleCancel answers a CANCEL per RFC 3261 §9.2: 200 OK and, if the
// INVITE is still waiting on the resolver, 487 Request Terminated to it;
// 481 when no transaction matches (which includes every INVITE answered
// statelessly: it is over before a CANCEL can arrive).
//
// The CANCEL is not given to the sipgo transaction (tx.Receive), although
// sipgo would answer it: sipgo sends its 487 from inside the transaction's
// state machine, and a later tx.Respond with the resolver's answer, though
// not sent, replaces the response the transaction retransmits, so the PBX
// would get the 302 again instead of the 487. sipgo's OnCancel hook runs
// under the state machine's lock, so waiting there for the lookup could
// deadlock. pendingCall.finish instead lets exactly one final response out.
func (s *Server) handleCancel(req *sip.Request) {
	var p *pendingCall
	if s.pending.active() {
		p = s.pending.get(txKey(req))
	}
	if p == nil {
		s.reply(req, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.reply(req, 200, "OK")
	if sent, err := p.finish(s.response(p.req, 487, "Request Terminated")); sent {
		s.m.cancelled.Inc()
		if err != nil {
			s.log.Debug("sip router: 487 not sent", "error", err)
		}
	}
}

// handleAck gives the ACK to its transaction; without one it belongs to a
// stateless 3xx/4xx answer and needs nothing (RFC 3261 §17.2.1: that ACK
// is hop-by-hop and ends here).
func (s *Server) handleAck(req *sip.Request) {
	if !s.pending.active() {
		return
	}
	if p := s.pending.get(txKey(req)); p != nil {
		_ = p.tx.Receive(req)
	}
}
