package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// Follow-up task settings: when the responsible manager should act on a
// missed call, or on a client someone else answered.
const (
	missedTaskDue = time.Hour
	notifyTaskDue = 4 * time.Hour
)

// Keys of a delivered event's CRM ref (connectors.CallRef.Extra) that
// record follow-up tasks, so each is created once per call.
const (
	refMissedTask = "missed_task_id"
	refNotifyTask = "notify_task_id"
)

// callWrite is one call's part in a write: what was written, and why the
// rest was not.
type callWrite struct {
	d  CallDelivery
	up CallUpdate
	// todo are the deliverable events not yet done; err says why.
	todo []int64
	err  error
}

// writeAlone writes one call of a connector without batch writes (or one
// retried alone) and returns what its task returns.
func (h *CallsHandler) writeAlone(ctx context.Context, tn telephony.Tenant, conn connectors.Connector, accountID, rowID int64) error {
	own := owner(ctx)
	claimed, err := h.Calls.ClaimCalls(ctx, []int64{rowID}, own, h.now().Add(h.lease()))
	if err != nil {
		return fmt.Errorf("claim call: %w", err)
	}
	if len(claimed) == 0 {
		return fmt.Errorf("call row %d is being written by another task: %w", rowID, ErrBusy)
	}
	defer h.release(ctx, claimed, own)
	ds, err := h.loadClaimed(ctx, accountID, claimed)
	if err != nil || len(ds) == 0 {
		return err
	}
	ws, err := h.write(ctx, tn, conn, accountID, ds, false)
	if err != nil {
		return h.failed(ctx, ds, err)
	}
	return h.settle(ctx, ws, nil)
}

// loadClaimed loads claimed calls and keeps those with events to write and
// a target in accountID (a call whose account was unlinked meanwhile goes
// back through delivery, to be resolved again).
func (h *CallsHandler) loadClaimed(ctx context.Context, accountID int64, rows []int64) ([]CallDelivery, error) {
	ds, err := h.Calls.LoadCalls(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("load calls: %w", err)
	}
	out := ds[:0]
	for _, d := range ds {
		switch {
		case !slices.ContainsFunc(d.Events, StoredEvent.Deliverable):
		case !d.Resolved || d.Target.AccountID != accountID:
			if err := h.Queue.EnqueueCalls(ctx, []CallKey{d.key()}); err != nil {
				return nil, err
			}
		default:
			out = append(out, d)
		}
	}
	return out, nil
}

// key is the call's delivery key for its newest event.
func (d CallDelivery) key() CallKey {
	k := CallKey{TenantID: d.TenantID, RowID: d.RowID, CallID: d.CallID}
	for _, e := range d.Events {
		k.Gen = max(k.Gen, e.ID)
	}
	return k
}

// release gives the leases back, even when ctx is done.
func (h *CallsHandler) release(ctx context.Context, rows []int64, own string) {
	sctx, cancel := detached(ctx)
	defer cancel()
	_ = h.Calls.ReleaseCalls(sctx, rows, own) // a lease left behind expires by itself
}

// followUp is a task a call asks for, and the event it is recorded on.
type followUp struct {
	task    connectors.Task
	due     time.Duration // after the write
	carrier int64         // event id
	key     string        // refMissedTask or refNotifyTask
}

// write sends the calls to the CRM, in one batch request when the
// connector has them and batch is set, and creates the follow-up tasks of
// the calls written. The error is a whole-request failure of a batch:
// nothing was written. Per-call failures are in the results.
func (h *CallsHandler) write(ctx context.Context, tn telephony.Tenant, conn connectors.Connector, accountID int64,
	ds []CallDelivery, batch bool) ([]callWrite, error) {
	states := make([]CallState, len(ds))
	for i := range ds {
		SortEvents(ds[i].Events)
		states[i] = FoldCall(ds[i].Events)
	}
	users, employees, err := h.answeredBy(ctx, tn.ID, accountID, states)
	if err != nil {
		return nil, err
	}
	tasks, canTask := conn.(connectors.TaskCreator)
	acts := make([]connectors.CallActivity, len(ds))
	follow := make([][]followUp, len(ds))
	for i, d := range ds {
		acts[i] = states[i].Activity(d.CallID, d.Target, d.Ref, users[i])
		follow[i] = h.followUps(ctx, tn, d, states[i], users[i], employees[i])
		if !canTask { // the fallback: say it in the call's note
			for _, f := range follow[i] {
				acts[i].Comment = joinText(acts[i].Comment, f.task.Text)
			}
			follow[i] = nil
		}
	}
	results := make([]connectors.CallResult, len(ds))
	if b, ok := conn.(connectors.BatchCallLogger); ok && batch {
		res, err := b.LogCalls(ctx, acts)
		if err != nil {
			return nil, err
		}
		copy(results, res)
	} else {
		for i := range acts {
			results[i].Ref, results[i].Err = conn.LogCall(ctx, acts[i])
		}
	}
	ws := make([]callWrite, len(ds))
	now := h.now().UTC()
	for i, d := range ds {
		ws[i] = callWrite{d: d, up: CallUpdate{RowID: d.RowID, State: &states[i], AnsweredByID: employees[i]}}
		if results[i].Err != nil {
			ws[i].todo, ws[i].err = deliverable(d), results[i].Err
			continue
		}
		ref := results[i].Ref
		if ref.ID == "" {
			ref = d.Ref
		}
		ws[i].up.Ref = &ref
		ws[i].finish(ctx, tasks, follow[i], now)
	}
	return ws, nil
}

// finish creates the call's follow-up tasks and marks its events
// delivered, but for the event of a task that failed.
func (w *callWrite) finish(ctx context.Context, tasks connectors.TaskCreator, follow []followUp, now time.Time) {
	extra := map[int64]map[string]string{}
	skip := map[int64]bool{}
	for _, f := range follow {
		f.task.Due = now.Add(f.due)
		id, err := tasks.CreateTask(ctx, f.task)
		if err != nil {
			skip[f.carrier] = true
			w.todo = append(w.todo, f.carrier)
			w.err = errors.Join(w.err, fmt.Errorf("follow-up task: %w", err))
			continue
		}
		if extra[f.carrier] == nil {
			extra[f.carrier] = map[string]string{}
		}
		extra[f.carrier][f.key] = id
	}
	for _, id := range deliverable(w.d) {
		if skip[id] {
			continue
		}
		// The call's ref is saved on the call; an event's own ref holds
		// what its delivery added (follow-up task ids).
		w.up.Events = append(w.up.Events, EventUpdate{ID: id, Status: EventDelivered, Ref: connectors.CallRef{Extra: extra[id]}})
	}
}

// followUps returns the tasks the call asks for that were not created
// yet: for a missed call (MissedCallTask), and for a client someone other
// than the responsible manager answered (NotifyResponsible). Each is
// recorded on the undelivered event that brought it (call.finished,
// call.answered), so it is created once.
func (h *CallsHandler) followUps(ctx context.Context, tn telephony.Tenant, d CallDelivery, s CallState,
	answeredBy string, employeeID int64) []followUp {
	t := d.Target
	var out []followUp
	if id := d.last(EventFinished); s.Missed() && tn.Routing.MissedCallTask && (t.Responsible != "" || t.Entity != nil) &&
		!d.done(refMissedTask) && id != 0 {
		out = append(out, followUp{task: connectors.Task{ResponsibleUserID: t.Responsible, Entity: t.Entity,
			Text: "Missed call from " + orUnknown(s.Customer()) + ": call the client back."},
			due: missedTaskDue, carrier: id, key: refMissedTask})
	}
	if id := d.last(EventAnswered); s.Answered && answeredBy != "" && t.Responsible != "" && answeredBy != t.Responsible &&
		tn.Routing.NotifyResponsible && !d.done(refNotifyTask) && id != 0 {
		who := fmt.Sprintf("employee %d", employeeID)
		if emp, err := h.Calls.Employee(ctx, tn.ID, employeeID); err == nil {
			who = emp.FullName
		}
		out = append(out, followUp{task: connectors.Task{ResponsibleUserID: t.Responsible, Entity: t.Entity,
			Text: "Your client " + orUnknown(s.Customer()) + " called and was answered by " + who + "."},
			due: notifyTaskDue, carrier: id, key: refNotifyTask})
	}
	return out
}

func orUnknown(number string) string {
	if number == "" {
		return "(number withheld)"
	}
	return number
}

func joinText(a, b string) string {
	if a == "" {
		return b
	}
	return a + "\n" + b
}

// done reports whether a delivered event records the follow-up key.
func (d CallDelivery) done(key string) bool {
	return slices.ContainsFunc(d.Events, func(e StoredEvent) bool {
		return e.Status == EventDelivered && e.Ref.Extra[key] != ""
	})
}

// last returns the id of the call's last deliverable event of kind, or 0.
func (d CallDelivery) last(kind EventKind) int64 {
	var id int64
	for _, e := range d.Events {
		if e.Event.Kind == kind && e.Deliverable() {
			id = e.ID
		}
	}
	return id
}

// deliverable returns the ids of the call's deliverable events.
func deliverable(d CallDelivery) []int64 {
	var ids []int64
	for _, e := range d.Events {
		if e.Deliverable() {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// settle records the writes and returns what the task returns. A
// per-call failure is retried by the task itself when it wrote one call
// (solo nil), or else by a task of that call alone, queued through solo, so
// one refused call neither holds back nor repeats the rest of its batch. A
// refused token parks the account.
func (h *CallsHandler) settle(ctx context.Context, ws []callWrite, solo func(callWrite) error) error {
	var ret error
	var park int64
	ups := make([]CallUpdate, 0, len(ws))
	for _, w := range ws {
		up := w.up
		if w.err != nil {
			err := classify(w.err)
			status := EventPending
			switch {
			case errors.Is(err, connectors.ErrUnauthorized):
				park = w.d.Target.AccountID
				ups = append(ups, up) // its undelivered events are parked below
				continue
			case errors.As(err, new(*connectors.RateLimitError)):
				status = "" // throttled: not an attempt
			case errors.Is(err, asynq.SkipRetry) || (solo == nil && finalAttempt(ctx)):
				status = EventFailed
			}
			for _, id := range w.todo {
				if status == "" {
					break
				}
				up.Events = append(up.Events, EventUpdate{ID: id, Status: status, Error: w.err.Error()})
			}
			if solo != nil {
				ret = errors.Join(ret, solo(w))
			} else {
				ret = fmt.Errorf("call %s: %w", w.d.CallID, err)
			}
		}
		ups = append(ups, up)
	}
	sctx, cancel := detached(ctx)
	defer cancel()
	if err := h.Calls.SaveDeliveries(sctx, ups); err != nil {
		return errors.Join(ret, fmt.Errorf("record deliveries: %w", err))
	}
	if park != 0 {
		return errors.Join(ret, h.parkAccount(ctx, park, connectors.ErrUnauthorized))
	}
	return ret
}
