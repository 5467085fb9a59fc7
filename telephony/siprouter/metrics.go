package siprouter

import (
	"errors"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/telephony"
)

// How an INVITE was answered: statelessly from the cache, or from a server
// transaction after a lookup.
const (
	pathStateless   = "stateless"
	pathTransaction = "transaction"
)

var outcomes = [...]telephony.Outcome{telephony.OutcomeRouted, telephony.OutcomeRedirect, telephony.OutcomeFallback}

// metrics are the router's Prometheus collectors. They exist (and count)
// even when no Registerer is set, so the hot path never checks for nil; the
// children the hot path uses are looked up once here.
type metrics struct {
	requests    *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	cache       *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	pending     prometheus.Gauge
	cancelled   prometheus.Counter
	writeErrors prometheus.Counter

	invite, ack, cancel, options, other prometheus.Counter
	cacheHits, cacheMisses              prometheus.Counter
	untrusted, malformed                prometheus.Counter
	byOutcome                           [2][len(outcomes)]prometheus.Counter // [path][outcome]
	latencyBy                           [2]prometheus.Observer
}

func newMetrics() *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_router_requests_total",
			Help: "SIP requests received from trusted sources, by method.",
		}, []string{"method"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_router_decisions_total",
			Help: "INVITEs answered, by outcome (routed, redirect, fallback) and path (stateless from the cache, or transaction after a lookup).",
		}, []string{"outcome", "path"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "crmsync_router_decision_seconds",
			Help: "Time from a parsed INVITE to its final answer sent, by path.",
			Buckets: []float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, .001, .0025, .005, .01, .025, .05,
				.1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"path"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_router_cache_lookups_total",
			Help: "Resolver.Cached calls for INVITEs, by result (hit, miss).",
		}, []string{"result"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "crmsync_router_dropped_total",
			Help: "Messages dropped unanswered: untrusted (a datagram or TCP connection from outside Trusted) or malformed.",
		}, []string{"reason"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "crmsync_router_pending_lookups",
			Help: "INVITEs waiting on the resolver.",
		}),
		cancelled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_router_cancelled_total",
			Help: "INVITEs cancelled by the PBX while waiting on the resolver.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "crmsync_router_write_errors_total",
			Help: "Responses that could not be sent.",
		}),
	}
	m.invite = m.requests.WithLabelValues(string(sip.INVITE))
	m.ack = m.requests.WithLabelValues(string(sip.ACK))
	m.cancel = m.requests.WithLabelValues(string(sip.CANCEL))
	m.options = m.requests.WithLabelValues(string(sip.OPTIONS))
	m.other = m.requests.WithLabelValues("other")
	m.cacheHits = m.cache.WithLabelValues("hit")
	m.cacheMisses = m.cache.WithLabelValues("miss")
	m.untrusted = m.dropped.WithLabelValues("untrusted")
	m.malformed = m.dropped.WithLabelValues("malformed")
	for p, path := range [2]string{pathStateless, pathTransaction} {
		for o, outcome := range outcomes {
			m.byOutcome[p][o] = m.decisions.WithLabelValues(string(outcome), path)
		}
		m.latencyBy[p] = m.latency.WithLabelValues(path)
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.decisions, m.latency, m.cache, m.dropped,
		m.pending, m.cancelled, m.writeErrors}
}

// register registers every collector with r, or none.
func (m *metrics) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return errors.New("siprouter: metrics already registered (another Server on the same Registerer?)")
			}
			return err
		}
		done = append(done, c)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	if r == nil || m == nil {
		return
	}
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

// request counts a request by method; ACKs absorbed in serveUDP are
// counted there.
func (m *metrics) request(method sip.RequestMethod) {
	switch method {
	case sip.INVITE:
		m.invite.Inc()
	case sip.ACK:
		m.ack.Inc()
	case sip.CANCEL:
		m.cancel.Inc()
	case sip.OPTIONS:
		m.options.Inc()
	default:
		m.other.Inc()
	}
}

// decided counts an answered INVITE and how long it took.
func (m *metrics) decided(d telephony.Decision, path string, took time.Duration) {
	p := 0
	if path == pathTransaction {
		p = 1
	}
	m.latencyBy[p].Observe(took.Seconds())
	for o, outcome := range outcomes {
		if d.Outcome == outcome {
			m.byOutcome[p][o].Inc()
			return
		}
	}
	m.decisions.WithLabelValues(string(d.Outcome), path).Inc()
}
