package routing

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/telephony"
)

// Defaults for Resolver fields left zero.
const (
	DefaultLocalSize         = 100_000
	DefaultLocalTTL          = 5 * time.Minute
	DefaultLocalNegativeTTL  = time.Minute
	DefaultErrorTTL          = 10 * time.Second
	DefaultRedisTTL          = 30 * time.Minute
	DefaultRedisNegativeTTL  = 2 * time.Minute
	DefaultSnapshotTTL       = 10 * time.Minute
	DefaultBackgroundTimeout = 10 * time.Second
	DefaultKeyPrefix         = "crmsync:routing:"
	DefaultChannel           = "crmsync:routing:invalidate"

	// didNegativeTTL is how long an unknown called number is remembered.
	didNegativeTTL = time.Minute
	// missingTenantTTL is how long an unknown tenant id is remembered.
	missingTenantTTL = time.Minute
)

var errClosed = errors.New("routing: resolver closed")

// Resolver decides where calls go: it implements siprouter.Resolver (and
// the HTTP route tester's Explain). Set the fields, call Open, and Close
// when done; the fields must not change after Open.
type Resolver struct {
	// Directory reads tenants, employees, departments, accounts and links.
	// Required.
	Directory Directory
	// Connections reaches the CRMs. Required.
	Connections Connections
	// Redis holds the shared answer cache and carries invalidations
	// between processes. Nil: neither (a single process; tests).
	Redis redis.UniversalClient
	// Registerer receives the crmsync_routing_* metrics; nil: none.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Now is the clock schedules, absences and local TTLs are read by;
	// nil: time.Now. Latency is always measured on the real clock.
	Now func() time.Time

	// Region reads called numbers written without a country code
	// (ISO 3166 alpha-2); empty: such numbers are only tried as E.164
	// without the "+". Callers are read in their tenant's region.
	Region string

	LocalSize         int           // answers kept in process; DefaultLocalSize
	LocalTTL          time.Duration // a match, in process; DefaultLocalTTL
	LocalNegativeTTL  time.Duration // no match, in process; DefaultLocalNegativeTTL
	ErrorTTL          time.Duration // a failed CRM lookup, in process only; DefaultErrorTTL
	RedisTTL          time.Duration // a match, in Redis; DefaultRedisTTL
	RedisNegativeTTL  time.Duration // no match, in Redis; DefaultRedisNegativeTTL
	SnapshotTTL       time.Duration // a tenant snapshot before a background reload; DefaultSnapshotTTL
	BackgroundTimeout time.Duration // a lookup that outlived its call; DefaultBackgroundTimeout
	KeyPrefix         string        // Redis keys; DefaultKeyPrefix
	Channel           string        // Redis invalidation channel; DefaultChannel

	log   *slog.Logger
	m     *metrics
	local *localCache
	dids  *didCache
	snaps snapshots

	answers singleflight.Group // "tenant:caller" → *lookupResult
	loads   singleflight.Group // snapshot and DID loads

	ctx      context.Context // ends at Close; parent of background work
	cancel   context.CancelFunc
	mu       sync.Mutex // guards closed against inflight.Add
	closed   bool
	inflight sync.WaitGroup
	pubsub   *redis.PubSub
	done     chan struct{} // listener and pruner stopped
}

// Open checks the fields, fills defaults and subscribes to invalidations.
// It does not block past the subscription.
func (r *Resolver) Open(ctx context.Context) error {
	if r.Directory == nil || r.Connections == nil {
		return errors.New("routing: Resolver.Directory and Connections are required")
	}
	r.defaults()
	m, err := newMetrics(r.Registerer)
	if err != nil {
		return fmt.Errorf("routing: metrics: %w", err)
	}
	r.m = m
	r.local = newLocalCache(r.LocalSize)
	r.dids = &didCache{max: int64(max(r.LocalSize/10, 1024))}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.done = make(chan struct{})
	if r.Redis != nil {
		if err := r.subscribe(ctx); err != nil {
			r.cancel()
			return fmt.Errorf("routing: subscribe to %s: %w", r.Channel, err)
		}
	}
	go r.background()
	return nil
}

func (r *Resolver) defaults() {
	r.log = r.Logger
	if r.log == nil {
		r.log = slog.Default()
	}
	setDefault(&r.LocalSize, DefaultLocalSize)
	setDefault(&r.LocalTTL, DefaultLocalTTL)
	setDefault(&r.LocalNegativeTTL, DefaultLocalNegativeTTL)
	setDefault(&r.ErrorTTL, DefaultErrorTTL)
	setDefault(&r.RedisTTL, DefaultRedisTTL)
	setDefault(&r.RedisNegativeTTL, DefaultRedisNegativeTTL)
	setDefault(&r.SnapshotTTL, DefaultSnapshotTTL)
	setDefault(&r.BackgroundTimeout, DefaultBackgroundTimeout)
	setDefault(&r.KeyPrefix, DefaultKeyPrefix)
	setDefault(&r.Channel, DefaultChannel)
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Close stops the subscription, cancels the lookups still running in the
// background and waits for them. It is safe to call more than once.
func (r *Resolver) Close() error {
	r.mu.Lock()
	if r.closed || r.cancel == nil {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	r.cancel()
	if r.pubsub != nil {
		_ = r.pubsub.Close() // unblocks the listener
	}
	<-r.done
	r.inflight.Wait()
	return nil
}

// begin registers background work unless the resolver is closed.
func (r *Resolver) begin() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.inflight.Add(1)
	return true
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// call is one query being answered.
type call struct {
	q       telephony.RouteQuery
	start   time.Time // real clock, for Latency
	now     time.Time // Resolver.Now, for schedules and TTLs
	explain bool
	steps   []string
}

func (r *Resolver) newCall(q telephony.RouteQuery, explain bool) call {
	start := time.Now()
	now := start
	if r.Now != nil {
		now = r.Now()
	}
	return call{q: q, start: start, now: now, explain: explain}
}

func (c *call) step(format string, args ...any) {
	if c.explain {
		c.steps = append(c.steps, fmt.Sprintf(format, args...))
	}
}

// finish stamps d with the latency, steps and metrics.
func (r *Resolver) finish(c *call, d telephony.Decision) telephony.Decision {
	d.Latency = time.Since(c.start)
	if c.explain {
		d.Steps = c.steps
	}
	r.m.count(&d)
	r.m.observe(&d)
	return d
}

// Cached answers from memory only: the tenant's snapshot, the caller's
// answer in the in-process cache, the employee's availability now. It
// does no I/O, takes no lock longer than a map lookup and allocates
// nothing. ok is false when only Resolve can answer. Its decisions have no
// Latency (it is well under a microsecond; measuring it would cost two
// clock reads of the few hundred nanoseconds).
func (r *Resolver) Cached(q telephony.RouteQuery) (telephony.Decision, bool) {
	c := r.newCall(q, false)
	d, ok := r.cached(&c)
	if !ok {
		return telephony.Decision{}, false
	}
	r.m.count(&d)
	return d, true
}

// cached is the in-memory path, shared by Cached, Resolve and Explain.
func (r *Resolver) cached(c *call) (telephony.Decision, bool) {
	s, did, ok := r.cachedTenant(c)
	if !ok {
		return telephony.Decision{}, false
	}
	raw := c.q.Caller
	var k answerKey
	caller := raw
	if n, isE164 := e164Digits(raw); isE164 {
		k = answerKey{tenant: s.tenant.ID, num: n}
	} else if k, caller, ok = r.normalized(s, raw); !ok {
		// Withheld callers are never normalised, so check only now.
		if anonymous(raw) {
			return r.anonymousDecision(c, s, did), true
		}
		return telephony.Decision{}, false
	}
	a, ok := r.local.get(k, c.now.UnixNano())
	r.m.hit[layerLocal][b2i(ok)].Inc()
	if !ok || !a.usable(s) {
		return telephony.Decision{}, false
	}
	if c.explain {
		r.explainCaller(c, caller)
		r.explainAnswer(c, s, &a, telephony.CacheLocal, nil)
	}
	return r.decide(c, s, did, callerOf(&a, caller), &a, telephony.CacheLocal), true
}

// callerOf is the Decision.Caller for a: empty when it is not a number.
func callerOf(a *answer, caller string) string {
	if a.invalid {
		return ""
	}
	return caller
}

// cachedTenant finds the query's tenant snapshot in memory, and the DID in
// E.164 when known. A snapshot past SnapshotTTL is still used while a
// background reload runs.
func (r *Resolver) cachedTenant(c *call) (*snapshot, string, bool) {
	id, did := c.q.TenantID, c.q.DID
	if e, ok := r.dids.get(c.q.DID, c.now.UnixNano()); ok {
		if e.e164 != "" {
			did = e.e164
		}
		if id == 0 {
			id = e.tenant
		}
	}
	if id == 0 {
		return nil, "", false
	}
	s, ok := r.snaps.load(id)
	if !ok || s.gone() {
		return nil, "", false
	}
	if c.start.Sub(s.loadedAt) > r.SnapshotTTL && s.refreshing.CompareAndSwap(false, true) {
		go r.refresh(id)
	}
	if c.explain {
		r.explainTenant(c, s, did)
	}
	return s, did, true
}

// normalized returns the cache key and E.164 form of a caller not sent as
// E.164, as an earlier Resolve normalised it; a caller that is not a
// number keeps its raw form.
func (r *Resolver) normalized(s *snapshot, raw string) (answerKey, string, bool) {
	e164, ok := r.local.norm.Get(normKey{s.tenant.Region, raw})
	if !ok {
		return answerKey{}, "", false
	}
	if e164 == "" {
		return answerKey{tenant: s.tenant.ID, raw: raw}, raw, true
	}
	return keyFor(s.tenant.ID, e164), e164, true
}

// Resolve answers q, by the tenant's deadline: from memory when it can,
// else filling what is missing from the store, then Redis, then the CRM.
// It never fails: an error becomes a fallback with the reason.
func (r *Resolver) Resolve(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
	c := r.newCall(q, false)
	return r.finish(&c, r.resolve(ctx, &c))
}

// Explain is Resolve with Steps: what would happen to q now, and why,
// step by step (the route tester and GET /api/v1/route).
func (r *Resolver) Explain(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
	c := r.newCall(q, true)
	return r.finish(&c, r.resolve(ctx, &c))
}

func (r *Resolver) resolve(ctx context.Context, c *call) telephony.Decision {
	if d, ok := r.cached(c); ok {
		return d
	}
	c.steps = c.steps[:0]
	s, did, reason := r.tenant(ctx, c)
	if s == nil {
		return telephony.Decision{
			Outcome: telephony.OutcomeFallback, Fallback: telephony.FallbackNotFound, Reason: reason,
			TenantID: c.q.TenantID, DID: did, Cache: telephony.CacheMiss,
		}
	}
	if c.explain {
		r.explainTenant(c, s, did)
	}
	if anonymous(c.q.Caller) {
		return r.anonymousDecision(c, s, did)
	}
	caller, ok := r.callerE164(s, c.q.Caller)
	if c.explain {
		r.explainCaller(c, caller)
	}
	k := keyFor(s.tenant.ID, caller)
	if !ok {
		a := &answer{invalid: true, order: s.orderCode, seq: r.local.tombs.current(), expires: c.now.Add(r.LocalNegativeTTL).UnixNano()}
		r.local.put(k, a)
		return r.decide(c, s, did, "", a, telephony.CacheMiss)
	}
	if a, ok := r.local.get(k, c.now.UnixNano()); ok && a.usable(s) {
		if c.explain {
			r.explainAnswer(c, s, &a, telephony.CacheLocal, nil)
		}
		return r.decide(c, s, did, caller, &a, telephony.CacheLocal)
	}
	res, reason := r.awaitLookup(ctx, c, s, k)
	if res == nil {
		d := telephony.Decision{TenantID: s.tenant.ID, DID: did, Caller: caller, Cache: telephony.CacheMiss}
		if c.explain {
			c.step("→ %s", reason)
		}
		return fallback(d, s, reason)
	}
	if c.explain {
		r.explainAnswer(c, s, res.ans, res.source, res)
	}
	return r.decide(c, s, did, caller, res.ans, res.source)
}

// awaitLookup waits for the caller's single-flighted lookup until the
// tenant's deadline (from the start of the call) or ctx ends. A nil result
// comes with the reason for the fallback; the lookup goes on.
func (r *Resolver) awaitLookup(ctx context.Context, c *call, s *snapshot, k answerKey) (*lookupResult, string) {
	ch := r.answers.DoChan(strconv.FormatInt(k.tenant, 10)+":"+k.caller(), func() (any, error) {
		return r.lookup(k, s), nil
	})
	wait := s.deadline - time.Since(c.start)
	if wait <= 0 {
		wait = time.Millisecond // a slow store ate the budget: take an answer that is ready
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case res := <-ch:
		return res.Val.(*lookupResult), ""
	case <-t.C:
		r.m.deadline.Inc()
		return nil, fmt.Sprintf("CRM did not answer within %d ms; the lookup goes on to warm the cache", s.deadline.Milliseconds())
	case <-ctx.Done():
		return nil, "the router stopped waiting for the CRM; the lookup goes on to warm the cache"
	}
}

// callerE164 normalises a raw caller in the tenant's region and remembers
// the result for the cached path. ok is false when it is not a number;
// the key is then the raw form. (A caller sent as "+digits" that
// libphonenumber writes differently is answered, but never from the cached
// path, which reads such callers as they are; no PBX sends those.)
func (r *Resolver) callerE164(s *snapshot, raw string) (string, bool) {
	e164, err := mapping.E164(raw, s.tenant.Region)
	if !plainE164(raw) {
		r.local.norm.Add(normKey{s.tenant.Region, raw}, e164) // "" when err != nil
	}
	if err != nil {
		return raw, false
	}
	return e164, true
}

// tenant finds the query's tenant and its snapshot, loading what is not
// in memory. A nil snapshot comes with the reason for the fallback.
func (r *Resolver) tenant(ctx context.Context, c *call) (*snapshot, string, string) {
	did, id := c.q.DID, c.q.TenantID
	if did != "" || id == 0 {
		e, err := r.did(ctx, c.q.DID, c.now)
		switch {
		case err != nil && id == 0:
			return nil, did, "could not read the phone numbers: " + err.Error()
		case err != nil:
		case id == 0 && e.tenant == 0:
			return nil, did, fmt.Sprintf("no tenant has the number %q", c.q.DID)
		default:
			did = cmp.Or(e.e164, did)
			if id == 0 {
				id = e.tenant
			}
		}
	}
	s, err := r.snapshot(ctx, id)
	switch {
	case errors.Is(err, errNoTenant):
		return nil, did, fmt.Sprintf("tenant %d does not exist", id)
	case err != nil:
		return nil, did, "could not read the directory: " + err.Error()
	}
	return s, did, ""
}
