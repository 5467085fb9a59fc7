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
	// RecordDecisions keeps a batch of decisions; the first decision kept
	// for a (tenant, call id) wins, within the batch and across batches.
	RecordDecisions(ctx context.Context, batch []telephony.CallDecision) error
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
// are waiting). The store keeps the first decision per Call-ID, so a
// retransmitted INVITE is recorded once. While the store is slow or down,
// at most MaxPending decisions wait; more are dropped and counted. Set the
// fields, call Open, and Close to flush.
//
// Record only appends to a slice under a mutex: it runs on the goroutine
// that answered the INVITE, once per call. The pending slice and the one
// being written swap places at each flush, so in a steady state recording
// allocates nothing.
type Recorder struct {
	Store         DecisionStore // required
	FlushInterval time.Duration // DefaultFlushInterval
	BatchSize     int           // DefaultBatchSize
	MaxPending    int           // DefaultMaxPending
	// Registerer receives crmsync_routing_records_total; nil: none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger

	mu      sync.Mutex
	pending []telephony.CallDecision
	spare   []telephony.CallDecision // the last batch written, emptied, for reuse
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
		Help: "Routing decisions by result: written (handed to the store, which skips calls already recorded), dropped (queue full), failed.",
	}, []string{"result"})
	var err error
	if rec.Registerer != nil {
		if records, err = registerOrReuse(rec.Registerer, records); err != nil {
			return err
		}
	}
	rec.records = records
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
	n := len(rec.pending)
	full := n >= rec.MaxPending
	if !full {
		rec.pending = append(rec.pending, telephony.CallDecision{CallID: sipCallID, Decision: d})
		n++
	}
	rec.mu.Unlock()
	switch {
	case full:
		rec.records.WithLabelValues("dropped").Inc()
	case n == rec.BatchSize:
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

// spareCap is how many batches' worth of array a flushed batch may hold
// and still be kept for reuse.
const spareCap = 8

// flush writes what is pending, BatchSize at a time. A failed batch is
// logged and counted, not retried: decisions are a log, not state.
func (rec *Recorder) flush() {
	for {
		rec.mu.Lock()
		batch := rec.pending
		if len(batch) == 0 {
			rec.mu.Unlock()
			return
		}
		rec.pending, rec.spare = rec.spare, nil
		rec.mu.Unlock()

		for start := 0; start < len(batch); start += rec.BatchSize {
			rec.write(batch[start:min(start+rec.BatchSize, len(batch))])
		}

		// Keep the array for the next batch unless an outage grew it.
		if cap(batch) <= spareCap*rec.BatchSize {
			clear(batch) // drop the decisions' strings
			rec.mu.Lock()
			if rec.spare == nil {
				rec.spare = batch[:0]
			}
			rec.mu.Unlock()
		}
	}
}

// write hands one batch to the store.
func (rec *Recorder) write(batch []telephony.CallDecision) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := rec.Store.RecordDecisions(ctx, batch)
	cancel()
	if err != nil {
		rec.records.WithLabelValues("failed").Add(float64(len(batch)))
		rec.Logger.Error("routing: record decisions", "count", len(batch), "error", err)
		return
	}
	rec.records.WithLabelValues("written").Add(float64(len(batch)))
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
