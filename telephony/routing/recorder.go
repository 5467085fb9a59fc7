package routing

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/telephony"
)

// DecisionStore keeps routing decisions; *store.DB satisfies it.
type DecisionStore interface {
	// RecordDecisions keeps a batch of decisions keyed by SIP Call-ID; the
	// first decision kept for a (tenant, call id) wins.
	RecordDecisions(ctx context.Context, batch map[string]telephony.Decision) error
}

// Recorder defaults.
const (
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultBatchSize     = 500
	DefaultMaxPending    = 50_000
)

// Recorder keeps the decisions the router answered, off the SIP path: it
// implements siprouter.Recorder by buffering decisions in memory and
// writing them in batches (every FlushInterval, or at once when BatchSize
// are waiting). Within a batch the first decision per Call-ID wins, as it
// does in the store, so a retransmitted INVITE is recorded once. While the
// store is slow or down, at most MaxPending decisions wait; more are
// dropped and counted. Set the fields, call Open, and Close to flush.
type Recorder struct {
	Store         DecisionStore // required
	FlushInterval time.Duration // DefaultFlushInterval
	BatchSize     int           // DefaultBatchSize
	MaxPending    int           // DefaultMaxPending
	// Registerer receives crmsync_routing_records_total; nil: none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	mu      sync.Mutex
	pending map[string]telephony.Decision
	kick    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	records *prometheus.CounterVec // {result: written, dropped, failed}
}

// Open starts the writer.
func (rec *Recorder) Open() error {
	setDefault(&rec.FlushInterval, DefaultFlushInterval)
	setDefault(&rec.BatchSize, DefaultBatchSize)
	setDefault(&rec.MaxPending, DefaultMaxPending)
	if rec.Logger == nil {
		rec.Logger = slog.Default()
	}
	records := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "crmsync_routing_records_total",
		Help: "Routing decisions recorded, by result (written, duplicate, dropped, failed).",
	}, []string{"result"})
	var err error
	if rec.Registerer != nil {
		if records, err = registerOrReuse(rec.Registerer, records); err != nil {
			return err
		}
	}
	rec.records = records
	rec.pending = map[string]telephony.Decision{}
	rec.kick = make(chan struct{}, 1)
	rec.stop = make(chan struct{})
	rec.done = make(chan struct{})
	go rec.run()
	return nil
}

// Record queues d, answered for the call sipCallID. It never blocks on
// I/O; it is safe for concurrent use.
func (rec *Recorder) Record(d telephony.Decision, sipCallID string) {
	if sipCallID == "" || d.TenantID == 0 {
		return // nothing to scope it by: an unknown DID, a lookup without a call
	}
	rec.mu.Lock()
	_, dup := rec.pending[sipCallID]
	full := !dup && len(rec.pending) >= rec.MaxPending
	if !dup && !full {
		rec.pending[sipCallID] = d
	}
	n := len(rec.pending)
	rec.mu.Unlock()
	switch {
	case dup:
		rec.records.WithLabelValues("duplicate").Inc()
	case full:
		rec.records.WithLabelValues("dropped").Inc()
	case n >= rec.BatchSize:
		select {
		case rec.kick <- struct{}{}:
		default:
		}
	}
}

func (rec *Recorder) run() {
	defer close(rec.done)
	t := time.NewTicker(rec.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-rec.kick:
		case <-rec.stop:
			rec.flush()
			return
		}
		rec.flush()
	}
}

// flush writes what is pending, BatchSize at a time. A failed batch is
// logged and counted, not retried: decisions are a log, not state.
func (rec *Recorder) flush() {
	for {
		rec.mu.Lock()
		if len(rec.pending) == 0 {
			rec.mu.Unlock()
			return
		}
		batch := rec.pending
		if len(batch) > rec.BatchSize {
			batch = make(map[string]telephony.Decision, rec.BatchSize)
			for id, d := range rec.pending {
				batch[id] = d
				delete(rec.pending, id)
				if len(batch) == rec.BatchSize {
					break
				}
			}
		} else {
			rec.pending = make(map[string]telephony.Decision, len(batch))
		}
		rec.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := rec.Store.RecordDecisions(ctx, batch)
		cancel()
		if err != nil {
			rec.records.WithLabelValues("failed").Add(float64(len(batch)))
			rec.Logger.Error("routing: record decisions", "count", len(batch), "error", err)
			continue
		}
		rec.records.WithLabelValues("written").Add(float64(len(batch)))
	}
}

// Close writes what is still queued and stops the writer.
func (rec *Recorder) Close() error {
	if rec.stop == nil {
		return nil
	}
	select {
	case <-rec.stop:
	default:
		close(rec.stop)
	}
	<-rec.done
	return nil
}
