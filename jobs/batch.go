package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// Batching call writes per CRM account.
//
// For a connector with batch writes (connectors.BatchCallLogger: amoCRM 50
// calls a request, HubSpot 100) TypeDeliverCall adds each call to its
// account's asynq group (AccountGroup), and the server aggregates a group
// into one TypeWriteCalls task (CallAggregator) when it holds
// CallGroupMaxSize calls or its oldest entry waited CallGroupMaxDelay:
// flushed by size or by age.
//
// asynq forms at most one aggregation set per group per check and checks
// once per grace period, whose minimum is 1 s: at most 50 calls a second
// for an amoCRM account, while the CRM takes 7 requests × 50 calls. So a
// write task tops its batch up, to the connector's MaxBatch, from the
// account's other calls ready in the outbox, and then keeps writing full
// batches while any are ready and its deadline allows. Under load an
// account drains at its CRM's rate limit, not at the aggregator's pace;
// the tasks whose calls were drained meanwhile find nothing to do. A
// partial batch is left to its own group's flush.

// The asynq server's group settings for call writes (WithCalls). 50 is
// the smallest MaxBatch of the in-tree connectors (amoCRM); a connector
// taking more gets its batches topped up from the outbox.
const (
	CallGroupMaxSize     = 50
	CallGroupMaxDelay    = 2 * time.Second
	CallGroupGracePeriod = time.Second // asynq's minimum
)

// drainMargin is the time a write task keeps in hand before its deadline:
// it starts no further batch with less left. drainProbe is how often a
// process looks for a full batch to drain, at most, per account.
const (
	drainMargin  = 15 * time.Second
	drainProbe   = 200 * time.Millisecond
	drainStagger = 10 * time.Second
	drainers     = 2
)

// startDrain counts a drainer of the account in, unless it has drainers.
func (h *CallsHandler) startDrain(accountID int64) bool {
	h.drainMu.Lock()
	defer h.drainMu.Unlock()
	if h.draining == nil {
		h.draining = map[int64]int{}
	}
	if h.draining[accountID] >= drainers {
		return false
	}
	h.draining[accountID]++
	return true
}

func (h *CallsHandler) endDrain(accountID int64) {
	h.drainMu.Lock()
	defer h.drainMu.Unlock()
	if h.draining[accountID]--; h.draining[accountID] <= 0 {
		delete(h.draining, accountID)
	}
}

// Backoff of failed call tasks (CallRetryDelay): 1 s, growing by 1.6 per
// attempt to at most 10 minutes, ±20%.
const (
	callBackoffBase   = time.Second
	callBackoffFactor = 1.6
	callBackoffMax    = 10 * time.Minute
)

// WithCalls returns cfg with what call push-back needs of the asynq
// server: the group aggregation of call writes, CallRetryDelay around its
// RetryDelayFunc (nil: RetryDelay), and, when unset, a TaskCheckInterval
// of 200 ms (asynq's default makes an idle server look for new tasks once
// a second, a second added to a call's way to the CRM). cmd wraps the
// worker's config in it and sets CallsHandler.Batch.
func WithCalls(cfg asynq.Config) asynq.Config {
	if cfg.TaskCheckInterval == 0 {
		cfg.TaskCheckInterval = 200 * time.Millisecond
	}
	cfg.GroupAggregator = CallAggregator
	cfg.GroupMaxSize = CallGroupMaxSize
	cfg.GroupMaxDelay = CallGroupMaxDelay
	cfg.GroupGracePeriod = CallGroupGracePeriod
	cfg.RetryDelayFunc = CallRetryDelay(cfg.RetryDelayFunc)
	return cfg
}

// CallAggregator merges an account group's TypeWriteCalls entries into
// one task: the calls of all of them, each once (its newest generation).
var CallAggregator = asynq.GroupAggregatorFunc(aggregateCalls)

func aggregateCalls(group string, tasks []*asynq.Task) *asynq.Task {
	var out WriteCallsPayload
	at := map[int64]int{}
	for _, t := range tasks {
		var p WriteCallsPayload
		if json.Unmarshal(t.Payload(), &p) != nil || p.AccountID <= 0 {
			continue // cannot happen: NewDeliverCallTask wrote it
		}
		out.TenantID, out.AccountID = p.TenantID, p.AccountID
		for _, c := range p.Calls {
			if i, ok := at[c.RowID]; ok {
				out.Calls[i].Gen = max(out.Calls[i].Gen, c.Gen)
				continue
			}
			at[c.RowID] = len(out.Calls)
			out.Calls = append(out.Calls, c)
		}
	}
	t, err := newWriteCallsTask(out)
	if err != nil { // nothing decodable: the handler archives it with the reason
		b, _ := json.Marshal(out)
		return asynq.NewTask(TypeWriteCalls, b, asynq.Queue(QueueCritical), asynq.MaxRetry(0))
	}
	return t
}

// CallRetryDelay wraps next (nil: RetryDelay) for the call task types: a
// call another task is writing is tried again in 2 s, one waiting for its
// customer's number in 5 s, rate limits wait as next says, and failures
// back off exponentially from 1 s to 10 minutes, so a CRM back after a
// minute's outage sees its calls within seconds. Other task types get next.
func CallRetryDelay(next asynq.RetryDelayFunc) asynq.RetryDelayFunc {
	if next == nil {
		next = RetryDelay
	}
	return func(n int, err error, t *asynq.Task) time.Duration {
		if t.Type() != TypeDeliverCall && t.Type() != TypeWriteCalls {
			return next(n, err, t)
		}
		switch {
		case errors.Is(err, errWaitingForNumber):
			return waitingDelay
		case errors.Is(err, ErrBusy):
			return busyDelay
		case errors.As(err, new(*connectors.RateLimitError)):
			return next(n, err, t)
		}
		return callBackoff(n)
	}
}

func callBackoff(n int) time.Duration {
	d := float64(callBackoffBase) * math.Pow(callBackoffFactor, float64(n))
	d = min(d, float64(callBackoffMax))
	return time.Duration(d * (0.8 + 0.4*rand.Float64()))
}

// ProcessWriteCalls handles TypeWriteCalls: an account's aggregated batch,
// or one call retried alone.
func (h *CallsHandler) ProcessWriteCalls(ctx context.Context, t *asynq.Task) error {
	ctx = withOwner(ctx)
	var p WriteCallsPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID <= 0 || p.AccountID <= 0 || (len(p.Calls) == 0 && !p.Drain) {
		return fmt.Errorf("write calls: bad payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	tn, err := h.Calls.Tenant(ctx, p.TenantID)
	if err != nil {
		return classify(fmt.Errorf("write calls: %w", err))
	}
	conn, err := h.Connections.ConnectorFor(ctx, p.AccountID)
	if errors.Is(err, connectors.ErrUnauthorized) {
		return h.parkAccount(ctx, p.AccountID, err)
	} else if err != nil {
		return classify(fmt.Errorf("write calls of account %d: %w", p.AccountID, err))
	}
	var rows []int64
	for _, c := range p.Calls {
		if !slices.Contains(rows, c.RowID) {
			rows = append(rows, c.RowID)
		}
	}
	b, ok := conn.(connectors.BatchCallLogger)
	if ok && p.Drain && len(rows) == 0 {
		return h.drain(ctx, tn, conn, b.MaxBatch(), p.AccountID, owner(ctx))
	}
	if !ok || len(rows) == 1 {
		var errs error
		for _, row := range rows {
			errs = errors.Join(errs, h.writeAlone(ctx, tn, conn, p.AccountID, row))
		}
		return errs
	}
	return h.writeBatches(ctx, tn, conn, b.MaxBatch(), p)
}

// writeBatches writes the payload's calls, the last batch topped up from
// the account's other ready calls, and then drains the account.
func (h *CallsHandler) writeBatches(ctx context.Context, tn telephony.Tenant, conn connectors.Connector, size int, p WriteCallsPayload) error {
	own := owner(ctx)
	var busy []CallGen
	for queue := p.Calls; len(queue) > 0; {
		n := min(len(queue), size)
		want := make([]int64, n)
		for i, c := range queue[:n] {
			want[i] = c.RowID
		}
		until := h.now().Add(h.lease())
		rows, err := h.Calls.ClaimCalls(ctx, want, own, until)
		if err != nil {
			return fmt.Errorf("write calls: claim: %w", err)
		}
		for _, c := range queue[:n] {
			if !slices.Contains(rows, c.RowID) {
				busy = append(busy, c)
			}
		}
		queue = queue[n:]
		if len(queue) == 0 && len(rows) < size {
			more, err := h.Calls.ClaimReadyCalls(ctx, p.AccountID, own, until, size-len(rows))
			if err != nil {
				h.release(ctx, rows, own)
				return fmt.Errorf("write calls: claim ready calls: %w", err)
			}
			rows = append(rows, more...)
		}
		if len(rows) == 0 {
			continue
		}
		if err := h.writeBatch(ctx, tn, conn, p.AccountID, rows, own); err != nil {
			return errors.Join(err, h.retryBusy(ctx, p.TenantID, busy))
		}
	}
	return errors.Join(h.drain(ctx, tn, conn, size, p.AccountID, own), h.retryBusy(ctx, p.TenantID, busy))
}

// drain writes the account's ready calls in full batches while there are
// any and the task's deadline allows. Two tasks per process drain an
// account at a time (drainers), so one does its database work while the
// other waits for the rate limit, and a process starts a drain at most
// every drainProbe: the account's rate limit makes more pointless, and
// every task waiting on it holds a worker that deliveries need. A partial
// batch is left to its group's flush.
func (h *CallsHandler) drain(ctx context.Context, tn telephony.Tenant, conn connectors.Connector, size int, accountID int64, own string) error {
	now := h.now()
	if last, ok := h.drained.Load(accountID); ok && now.Sub(last.(time.Time)) < drainProbe {
		return nil
	}
	h.drained.Store(accountID, now)
	if !h.startDrain(accountID) {
		return nil
	}
	defer h.endDrain(accountID)
	// Drains stop at different times, so one is running while another
	// hands over.
	margin := drainMargin + time.Duration(rand.Int64N(int64(drainStagger)))
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < margin {
			// Hand over at once rather than at the next group flush.
			h.drained.Delete(accountID)
			return h.continueDrain(ctx, tn.ID, accountID)
		}
		rows, err := h.Calls.ClaimReadyCalls(ctx, accountID, own, h.now().Add(h.lease()), size)
		if err != nil {
			return fmt.Errorf("drain account %d: claim ready calls: %w", accountID, err)
		}
		if len(rows) < size {
			h.release(ctx, rows, own)
			return nil
		}
		if err := h.writeBatch(ctx, tn, conn, accountID, rows, own); err != nil {
			return err
		}
		h.drained.Store(accountID, h.now())
	}
}

// continueDrain queues a task that drains the account, for a drain that
// ran out of time while calls were ready.
func (h *CallsHandler) continueDrain(ctx context.Context, tenantID, accountID int64) error {
	t, err := newWriteCallsTask(WriteCallsPayload{TenantID: tenantID, AccountID: accountID, Drain: true},
		asynq.TaskID(fmt.Sprintf("%s:drain:%d:%d", TypeWriteCalls, accountID, h.now().Unix())))
	if err != nil {
		return err
	}
	return h.Queue.enqueue(ctx, t)
}

// writeBatch writes claimed calls in one request and releases them.
func (h *CallsHandler) writeBatch(ctx context.Context, tn telephony.Tenant, conn connectors.Connector, accountID int64,
	rows []int64, own string) error {
	defer h.release(ctx, rows, own)
	ds, err := h.loadClaimed(ctx, accountID, rows)
	if err != nil || len(ds) == 0 {
		return err
	}
	ws, err := h.write(ctx, tn, conn, accountID, ds, true)
	if err != nil {
		if errors.Is(classify(err), asynq.SkipRetry) && !errors.Is(err, connectors.ErrUnauthorized) {
			// The CRM refused the whole request: retry each call alone,
			// so the one it objects to is archived with the reason.
			var errs error
			for _, d := range ds {
				errs = errors.Join(errs, h.enqueueSolo(ctx, tn.ID, accountID, d))
			}
			return errs
		}
		return h.failed(ctx, ds, fmt.Errorf("write %d calls of account %d: %w", len(ds), accountID, err))
	}
	return h.settle(ctx, ws, func(w callWrite) error { return h.enqueueSolo(ctx, tn.ID, accountID, w.d) })
}

// enqueueSolo queues a write of d alone.
func (h *CallsHandler) enqueueSolo(ctx context.Context, tenantID, accountID int64, d CallDelivery) error {
	k := d.key()
	t, err := newWriteCallsTask(WriteCallsPayload{TenantID: tenantID, AccountID: accountID,
		Calls: []CallGen{{RowID: d.RowID, CallID: d.CallID, Gen: k.Gen}}},
		asynq.TaskID(fmt.Sprintf("%s:%d:%d:solo", TypeWriteCalls, d.RowID, k.Gen)))
	if err != nil {
		return err
	}
	if err := h.Queue.enqueue(ctx, t); err != nil {
		return fmt.Errorf("queue call %s alone: %w", d.CallID, err)
	}
	return nil
}

// retryBusy queues the delivery of calls another task was writing, a
// moment later: that task may have loaded them before their newest events.
func (h *CallsHandler) retryBusy(ctx context.Context, tenantID int64, busy []CallGen) error {
	var errs error
	for _, c := range busy {
		t, err := NewDeliverCallTask(CallKey{TenantID: tenantID, RowID: c.RowID, CallID: c.CallID, Gen: c.Gen},
			asynq.ProcessIn(busyDelay))
		if err == nil {
			err = h.Queue.enqueue(ctx, t)
		}
		errs = errors.Join(errs, err)
	}
	return errs
}
