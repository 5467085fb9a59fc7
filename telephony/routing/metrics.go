package routing

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/telephony"
)

// metrics are the crmsync_routing_* series. The children the cached path
// touches are bound once, so counting is an atomic add.
type metrics struct {
	decisions     *prometheus.CounterVec   // {outcome, cache}
	latency       *prometheus.HistogramVec // {cache}
	crmLookups    *prometheus.CounterVec   // {kind, result}
	cache         *prometheus.CounterVec   // {layer, result}
	deadline      prometheus.Counter
	invalidations *prometheus.CounterVec // {kind}
	reconnects    prometheus.Counter
	loads         *prometheus.CounterVec // {what, result}

	decided [3][3]prometheus.Counter // [outcome][cache]
	took    [3]prometheus.Observer   // [cache]
	hit     [2][2]prometheus.Counter // [layer local|redis][miss|hit]
}

var (
	outcomes = [...]telephony.Outcome{telephony.OutcomeRouted, telephony.OutcomeRedirect, telephony.OutcomeFallback}
	levels   = [...]telephony.Cache{telephony.CacheLocal, telephony.CacheRedis, telephony.CacheMiss}
)

const (
	layerLocal = 0
	layerRedis = 1
)

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_routing_decisions_total",
			Help: "Routing decisions by outcome (routed, redirect, fallback) and where the CRM answer came from (local, redis, miss).",
		}, []string{"outcome", "cache"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "crmsync_routing_decision_seconds",
			Help:    "Time Resolve took to decide where a call goes (calls Cached answered from memory are not timed), by where the CRM answer came from.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 13), // 1 µs … 16.8 s
		}, []string{"cache"}),
		crmLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_routing_crm_lookups_total",
			Help: "Live CRM lookups per entity kind and account, by result (match, none, unsupported, error).",
		}, []string{"kind", "result"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_routing_cache_total",
			Help: "Answer cache lookups by layer (local, redis) and result (hit, miss).",
		}, []string{"layer", "result"}),
		deadline: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_routing_deadline_exceeded_total",
			Help: "Calls that got their fallback because the CRM did not answer by the tenant's deadline.",
		}),
		invalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_routing_invalidations_total",
			Help: "Invalidation messages applied, by kind (tenant, caller, entity, account, all).",
		}, []string{"kind"}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_routing_pubsub_reconnects_total",
			Help: "Times the invalidation subscription was lost and re-established (each drops the local caches).",
		}),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_routing_directory_loads_total",
			Help: "Directory reads (snapshot, did) by result (ok, not_found, error).",
		}, []string{"what", "result"}),
	}
	if err := m.register(reg); err != nil {
		return nil, err
	}
	for i, o := range outcomes {
		for j, c := range levels {
			m.decided[i][j] = m.decisions.WithLabelValues(string(o), string(c))
		}
	}
	for j, c := range levels {
		m.took[j] = m.latency.WithLabelValues(string(c))
	}
	for i, layer := range [...]string{"local", "redis"} {
		m.hit[i][0] = m.cache.WithLabelValues(layer, "miss")
		m.hit[i][1] = m.cache.WithLabelValues(layer, "hit")
	}
	return m, nil
}

// register registers every collector; one registered already (another
// Resolver in the process, e.g. web's beside the router's) is shared.
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	var err error
	m.decisions, err = registerOrReuse(reg, m.decisions)
	if err == nil {
		m.latency, err = registerOrReuse(reg, m.latency)
	}
	if err == nil {
		m.crmLookups, err = registerOrReuse(reg, m.crmLookups)
	}
	if err == nil {
		m.cache, err = registerOrReuse(reg, m.cache)
	}
	if err == nil {
		m.deadline, err = registerOrReuse(reg, m.deadline)
	}
	if err == nil {
		m.invalidations, err = registerOrReuse(reg, m.invalidations)
	}
	if err == nil {
		m.reconnects, err = registerOrReuse(reg, m.reconnects)
	}
	if err == nil {
		m.loads, err = registerOrReuse(reg, m.loads)
	}
	return err
}

func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}

// count counts d by outcome and cache level.
func (m *metrics) count(d *telephony.Decision) {
	m.decided[outcomeIndex(d.Outcome)][cacheIndex(d.Cache)].Inc()
}

// observe records the latency of a decision Resolve or Explain made.
func (m *metrics) observe(d *telephony.Decision) {
	m.took[cacheIndex(d.Cache)].Observe(float64(d.Latency) / float64(time.Second))
}

func outcomeIndex(o telephony.Outcome) int {
	switch o {
	case telephony.OutcomeRouted:
		return 0
	case telephony.OutcomeRedirect:
		return 1
	}
	return 2
}

func cacheIndex(c telephony.Cache) int {
	switch c {
	case telephony.CacheLocal:
		return 0
	case telephony.CacheRedis:
		return 1
	}
	return 2
}
