package jobs

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Sweeper defaults.
const (
	DefaultSweepInterval = 30 * time.Second
	// DefaultSweepFresh is how old a never-attempted pending event must be
	// before its call counts as lost: its task should have run by then.
	DefaultSweepFresh = time.Minute
	// DefaultSweepRetried is how long an attempted pending event may go
	// untouched: longer than CallRetryDelay's longest backoff, so a call
	// whose task is waiting to retry is not queued a second time.
	DefaultSweepRetried = callBackoffMax + 2*time.Minute
	// DefaultSweepBatch bounds the calls read per query.
	DefaultSweepBatch = 1000
)

// CallQueue queues call deliveries and says how many tasks it added;
// *Enqueuer implements it.
type CallQueue interface {
	QueueCalls(ctx context.Context, keys []CallKey) (int, error)
}

// SweepStore is what the Sweeper reads; *store.DB implements it (through
// CallStore).
type SweepStore interface {
	ResumeParked(ctx context.Context) ([]CallKey, error)
	StuckCalls(ctx context.Context, fresh, retried time.Time, afterRowID int64, limit int) ([]CallKey, error)
}

// Sweeper re-enqueues the delivery of calls the queue lost: events still
// pending in the outbox with no task to deliver them, because Redis was
// flushed or restarted without persistence, the embedded mode's
// in-process Redis went down with the process, or an enqueue after
// intake failed. It also resumes the events parked behind an account that
// has been relinked since. Tasks carry deterministic ids, so a sweep that
// re-enqueues a call whose task is in fact still queued is a no-op; run
// one Sweeper in every worker process.
type Sweeper struct {
	Calls SweepStore
	Queue CallQueue
	// Interval between sweeps; 0 means DefaultSweepInterval. The first
	// sweep runs at Start.
	Interval time.Duration
	// Fresh and Retried: see DefaultSweepFresh and DefaultSweepRetried; 0
	// means those.
	Fresh, Retried time.Duration
	// Batch: see DefaultSweepBatch; 0 means that.
	Batch  int
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start runs a sweep now and then every Interval, until Shutdown.
func (s *Sweeper) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	interval := s.Interval
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
				s.logger().Warn("call sweeper", "err", err, "queued", n)
			} else if n > 0 {
				s.logger().Info("call sweeper queued calls the queue had lost", "queued", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// Shutdown stops the sweeps and waits for one in progress.
func (s *Sweeper) Shutdown() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

func (s *Sweeper) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// Sweep resumes parked events of relinked accounts and re-enqueues stuck
// calls once, and returns how many delivery tasks it added (calls whose
// task is still queued are not counted).
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	fresh, retried, batch := s.Fresh, s.Retried, s.Batch
	if fresh <= 0 {
		fresh = DefaultSweepFresh
	}
	if retried <= 0 {
		retried = DefaultSweepRetried
	}
	if batch <= 0 {
		batch = DefaultSweepBatch
	}
	resumed, err := s.Calls.ResumeParked(ctx)
	if err != nil {
		return 0, err
	}
	n, err := s.Queue.QueueCalls(ctx, resumed)
	if err != nil {
		return n, err
	}
	var after int64
	for {
		keys, err := s.Calls.StuckCalls(ctx, now.Add(-fresh), now.Add(-retried), after, batch)
		if err != nil {
			return n, err
		}
		added, err := s.Queue.QueueCalls(ctx, keys)
		n += added
		if err != nil {
			return n, err
		}
		if len(keys) < batch {
			return n, nil
		}
		after = keys[len(keys)-1].RowID
	}
}
