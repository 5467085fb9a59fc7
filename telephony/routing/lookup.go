package routing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// Connections turns an account id into a live connector;
// *connectors.Resolver satisfies it.
type Connections interface {
	// ConnectorFor returns the connector of account id, or an error
	// wrapping connectors.ErrUnauthorized when it needs relinking.
	ConnectorFor(ctx context.Context, accountID int64) (connectors.Connector, error)
}

// lookupResult is what one single-flighted lookup found, shared by every
// call that waited on it. It is read-only.
type lookupResult struct {
	ans    *answer
	source telephony.Cache // CacheRedis or CacheMiss (the CRM)
	took   time.Duration
	notes  []string // per kind and account, for the route tester
	err    error    // the CRM could not answer (ans holds the failure)
}

// kindResult is one FindByPhone of one account.
type kindResult struct {
	account  connectors.Account
	kind     connectors.EntityKind
	entities []connectors.Entity
	err      error
}

// crmAnswer is the outcome of asking the CRM.
type crmAnswer struct {
	ans     *answer
	partial bool // a kind before the winning one failed: keep it briefly
	notes   []string
}

// crmLookup asks every connected account of the tenant for every kind in
// the tenant's order at once, then takes the results in that order: the
// first kind with an open match that names a responsible user wins (across
// accounts; several matches → the most recently updated). Closed entities
// and kinds the CRM lacks are skipped. The lookups still running when a
// kind wins are cancelled. It fails only when no kind matched and some
// failed, since a no-match is then not known.
func (r *Resolver) crmLookup(ctx context.Context, s *snapshot, caller string) (crmAnswer, error) {
	if len(s.accounts) == 0 {
		return crmAnswer{ans: &answer{}, notes: []string{"the tenant has no connected CRM account"}}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan kindResult, len(s.accounts)*len(s.order))
	for _, acct := range s.accounts {
		go r.askAccount(ctx, acct, s.order, caller, results)
	}
	byKind := make(map[connectors.EntityKind][]kindResult, len(s.order))
	var out crmAnswer
	var failures []string
	for _, kind := range s.order {
		for len(byKind[kind]) < len(s.accounts) {
			select {
			case res := <-results:
				byKind[res.kind] = append(byKind[res.kind], res)
			case <-ctx.Done():
				return out, ctx.Err()
			}
		}
		best, notes, failed := r.pick(kind, byKind[kind])
		out.notes = append(out.notes, notes...)
		failures = append(failures, failed...)
		if best != nil {
			out.ans = best
			out.partial = len(failures) > 0
			return out, nil
		}
	}
	if len(failures) > 0 {
		return out, errors.New(strings.Join(failures, "; "))
	}
	out.ans = &answer{}
	return out, nil
}

// askAccount runs FindByPhone for every kind of one account in parallel.
func (r *Resolver) askAccount(ctx context.Context, acct connectors.Account, kinds []connectors.EntityKind, caller string, out chan<- kindResult) {
	conn, err := r.Connections.ConnectorFor(ctx, acct.ID)
	if err != nil {
		for _, k := range kinds {
			out <- kindResult{account: acct, kind: k, err: err}
		}
		return
	}
	for _, k := range kinds {
		go func() {
			es, err := conn.FindByPhone(ctx, k, caller)
			out <- kindResult{account: acct, kind: k, entities: es, err: err}
		}()
	}
}

// pick chooses the winner of one kind across accounts, if any, and says
// what each account answered.
func (r *Resolver) pick(kind connectors.EntityKind, results []kindResult) (best *answer, notes, failures []string) {
	var bestAt time.Time
	for _, res := range results {
		where := res.account.Connector + " account " + strconv.FormatInt(res.account.ID, 10)
		switch {
		case errors.Is(res.err, connectors.ErrUnsupported):
			r.m.crmLookups.WithLabelValues(string(kind), "unsupported").Inc()
			notes = append(notes, fmt.Sprintf("%s: not supported by %s", kind, where))
			continue
		case res.err != nil:
			r.m.crmLookups.WithLabelValues(string(kind), "error").Inc()
			msg := fmt.Sprintf("%s lookup in %s failed: %v", kind, where, res.err)
			notes = append(notes, msg)
			failures = append(failures, msg)
			continue
		}
		var open, closed, ownerless int
		for _, e := range res.entities {
			switch {
			case e.Closed:
				closed++
			case e.ResponsibleUserID == "":
				ownerless++
			default:
				open++
				if best == nil || e.UpdatedAt.After(bestAt) {
					best = &answer{found: true, account: res.account.ID, kind: kind, entityID: e.ID, crmUser: e.ResponsibleUserID}
					bestAt = e.UpdatedAt
				}
			}
		}
		result := "none"
		if open > 0 {
			result = "match"
		}
		r.m.crmLookups.WithLabelValues(string(kind), result).Inc()
		notes = append(notes, fmt.Sprintf("%s: %s in %s", kind, countNote(open, closed, ownerless), where))
	}
	return best, notes, failures
}

func countNote(open, closed, ownerless int) string {
	if open+closed+ownerless == 0 {
		return "none"
	}
	var parts []string
	if open > 0 {
		parts = append(parts, fmt.Sprintf("%d open", open))
	}
	if closed > 0 {
		parts = append(parts, fmt.Sprintf("%d closed (skipped)", closed))
	}
	if ownerless > 0 {
		parts = append(parts, fmt.Sprintf("%d without a responsible user (skipped)", ownerless))
	}
	return strings.Join(parts, ", ")
}

// lookup finds a caller's answer in Redis or the CRM. It runs once per
// (tenant, caller) at a time, whoever waits on it, on its own context
// bounded by BackgroundTimeout: a call that stops waiting at its deadline
// leaves it running to warm both caches.
func (r *Resolver) lookup(k answerKey, s *snapshot) *lookupResult {
	if !r.begin() {
		return &lookupResult{ans: &answer{failure: "the router is shutting down"}, err: errClosed}
	}
	defer r.inflight.Done()
	ctx, cancel := context.WithTimeout(r.ctx, r.BackgroundTimeout)
	defer cancel()
	seq := r.local.tombs.current()
	begun := time.Now()

	a, ok, err := r.redisGet(ctx, k)
	if err != nil {
		r.log.Warn("routing: redis cache read failed", "tenant_id", k.tenant, "error", err)
	}
	ok = ok && a.usable(s) // another search order, an account since disconnected: ask again
	r.m.hit[layerRedis][b2i(ok)].Inc()
	if ok {
		ttl := r.LocalTTL
		if !a.found {
			ttl = r.LocalNegativeTTL
		}
		a.seq, a.expires = seq, r.now().Add(ttl).UnixNano()
		r.local.put(k, a)
		return &lookupResult{ans: a, source: telephony.CacheRedis, took: time.Since(begun)}
	}

	ca, err := r.crmLookup(ctx, s, k.caller())
	took := time.Since(begun)
	if err != nil {
		reason := "CRM lookup failed: " + err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			reason = fmt.Sprintf("CRM did not answer within %s", r.BackgroundTimeout)
		}
		fa := &answer{failure: reason, order: s.orderCode, seq: seq, expires: r.now().Add(r.ErrorTTL).UnixNano()}
		r.local.put(k, fa)
		r.log.Warn("routing: CRM lookup failed", "tenant_id", k.tenant, "error", err)
		return &lookupResult{ans: fa, source: telephony.CacheMiss, took: took, notes: ca.notes, err: err}
	}
	a = ca.ans
	localTTL, redisTTL := r.LocalTTL, r.RedisTTL
	if !a.found || ca.partial {
		localTTL, redisTTL = r.LocalNegativeTTL, r.RedisNegativeTTL
	}
	a.order, a.seq, a.expires = s.orderCode, seq, r.now().Add(localTTL).UnixNano()
	r.local.put(k, a)
	if err := r.redisPut(ctx, k, a, begun.UnixMilli(), redisTTL); err != nil {
		r.log.Warn("routing: redis cache write failed", "tenant_id", k.tenant, "error", err)
	}
	return &lookupResult{ans: a, source: telephony.CacheMiss, took: took, notes: ca.notes}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
