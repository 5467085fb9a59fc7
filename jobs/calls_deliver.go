package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// DefaultNumberWait is how long a call whose events have not yet given the
// customer's number waits for one (to find the CRM record by it) before it
// is written without a record.
const DefaultNumberWait = 10 * time.Minute

// busyDelay is how soon a call whose lease another task holds is tried
// again (CallRetryDelay), and waitingDelay how soon one waiting for its
// customer's number is.
const (
	busyDelay    = 2 * time.Second
	waitingDelay = 5 * time.Second
)

// errWaitingForNumber defers a call whose customer number is unknown yet.
var errWaitingForNumber = fmt.Errorf("waiting for an event with the customer's number: %w", ErrBusy)

// errParked ends a task whose events were parked behind an account that
// needs relinking: not a failure, nothing to retry.
var errParked = errors.New("parked until the account is relinked")

// CallsHandler processes call push-back tasks. Set the fields, then
// RegisterCalls it; one per worker process.
type CallsHandler struct {
	Connections Connections
	Calls       CallStore
	// Queue enqueues follow-up tasks: a call's entry in its account's batch
	// group, a call retried alone, a busy call tried again.
	Queue *Enqueuer
	// Batch hands the writes of connectors with batch writes
	// (connectors.BatchCallLogger) to their account's asynq group; the
	// server must then run with WithCalls's group settings, or the entries
	// wait forever. False writes every call in its own request.
	Batch bool
	// Lease is how long a call's lease holds; 0 means DefaultCallLease.
	// Tests shorten it to recover from a killed worker sooner.
	Lease time.Duration
	// NumberWait: see DefaultNumberWait; 0 means that.
	NumberWait time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	drainMu  sync.Mutex
	draining map[int64]int // account id → tasks of this process draining it
	drained  sync.Map      // account id → when a drain last started or wrote
	cache    sync.Map      // "tenant:<id>", "accounts:<tenant id>" → cached
}

// settingsTTL is how long a handler keeps a tenant's settings and account
// list: they change rarely, and every call's delivery reads them.
const settingsTTL = 5 * time.Second

type cached struct {
	v       any
	expires time.Time
}

// tenant returns the tenant, cached for settingsTTL.
func (h *CallsHandler) tenant(ctx context.Context, id int64) (telephony.Tenant, error) {
	key := "tenant:" + strconv.FormatInt(id, 10)
	if c, ok := h.cache.Load(key); ok && h.now().Before(c.(cached).expires) {
		return c.(cached).v.(telephony.Tenant), nil
	}
	tn, err := h.Calls.Tenant(ctx, id)
	if err != nil {
		return tn, err
	}
	h.cache.Store(key, cached{tn, h.now().Add(settingsTTL)})
	return tn, nil
}

// accounts returns the tenant's CRM accounts, cached for settingsTTL.
func (h *CallsHandler) accounts(ctx context.Context, tenantID int64) ([]connectors.Account, error) {
	key := "accounts:" + strconv.FormatInt(tenantID, 10)
	if c, ok := h.cache.Load(key); ok && h.now().Before(c.(cached).expires) {
		return c.(cached).v.([]connectors.Account), nil
	}
	accts, err := h.Calls.RoutingAccounts(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	h.cache.Store(key, cached{accts, h.now().Add(settingsTTL)})
	return accts, nil
}

// RegisterCalls routes the call push-back task types to h; jobs.Register
// calls it when its Handler has Calls.
func RegisterCalls(mux *asynq.ServeMux, h *CallsHandler) {
	mux.HandleFunc(TypeDeliverCall, h.ProcessDeliverCall)
	mux.HandleFunc(TypeWriteCalls, h.ProcessWriteCalls)
}

func (h *CallsHandler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *CallsHandler) lease() time.Duration {
	if h.Lease > 0 {
		return h.Lease
	}
	return DefaultCallLease
}

type ownerKey struct{}

// withOwner gives one execution of a task its lease owner: the asynq task
// id plus a random suffix, so each execution owns its leases alone. The
// task id alone is not enough: when Redis loses its tasks (a flush, a
// restart without persistence) the Sweeper queues a call again under the
// same task id while the first execution may still be writing it, in this
// process or another, and a shared owner would let both take the lease and
// write the call twice (seen with Pipedrive, which writes calls one by
// one). The price: a call whose worker was killed is written again once
// its lease lapses (Lease), not at once.
func withOwner(ctx context.Context) context.Context {
	id, _ := asynq.GetTaskID(ctx)
	if id == "" {
		id = "local"
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return context.WithValue(ctx, ownerKey{}, id+"/"+hex.EncodeToString(b))
}

// owner is the lease owner that withOwner gave the running execution;
// both task handlers set one on entry.
func owner(ctx context.Context) string {
	own, _ := ctx.Value(ownerKey{}).(string)
	return own
}

// finalAttempt reports whether a failure now archives the task.
func finalAttempt(ctx context.Context) bool {
	n, ok1 := asynq.GetRetryCount(ctx)
	m, ok2 := asynq.GetMaxRetry(ctx)
	return ok1 && ok2 && n >= m
}

// ProcessDeliverCall handles TypeDeliverCall: it resolves the call's CRM
// target when that is not done yet (the routing decision's record, else a
// lookup by the customer's number in the tenant's order, else a record
// created for an unknown caller when the tenant asks for one), then writes
// the call, or queues the write in its account's batch group.
func (h *CallsHandler) ProcessDeliverCall(ctx context.Context, t *asynq.Task) error {
	ctx = withOwner(ctx)
	var p DeliverCallPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.TenantID <= 0 || p.CallRowID <= 0 {
		return fmt.Errorf("deliver call: bad payload %q: %w", t.Payload(), asynq.SkipRetry)
	}
	ds, err := h.Calls.LoadCalls(ctx, []int64{p.CallRowID})
	if err != nil {
		return fmt.Errorf("deliver call %s: %w", p.CallID, err)
	}
	if len(ds) == 0 || ds[0].TenantID != p.TenantID || !slices.ContainsFunc(ds[0].Events, StoredEvent.Deliverable) {
		return nil // gone with its tenant, or nothing left to write
	}
	d := ds[0]
	tn, err := h.tenant(ctx, d.TenantID)
	if err != nil {
		return classify(fmt.Errorf("deliver call %s: %w", d.CallID, err))
	}
	if !d.Resolved {
		if d.Target, err = h.resolve(ctx, tn, d); err != nil {
			return h.failed(ctx, []CallDelivery{d}, fmt.Errorf("deliver call %s: %w", d.CallID, err))
		}
		d.Resolved = true
	}
	conn, err := h.Connections.ConnectorFor(ctx, d.Target.AccountID)
	if err != nil {
		return h.failed(ctx, []CallDelivery{d}, fmt.Errorf("deliver call %s: %w", d.CallID, err))
	}
	if b, ok := conn.(connectors.BatchCallLogger); ok && h.Batch {
		task, err := newWriteCallsTask(WriteCallsPayload{TenantID: d.TenantID, AccountID: d.Target.AccountID,
			Calls: []CallGen{{RowID: d.RowID, CallID: d.CallID, Gen: p.Gen}}},
			asynq.Group(AccountGroup(d.Target.AccountID)), asynq.TaskID(fmt.Sprintf("%s:%d:%d", TypeWriteCalls, d.RowID, p.Gen)))
		if err != nil {
			return fmt.Errorf("deliver call %s: %v: %w", d.CallID, err, asynq.SkipRetry)
		}
		if err := h.Queue.enqueue(ctx, task); err != nil {
			return fmt.Errorf("deliver call %s: queue its write: %w", d.CallID, err)
		}
		// Help: under load the account's writes should not wait for the
		// group's flush behind this queue's deliveries. Best effort: a
		// failed batch is recorded on its calls, whose own tasks retry.
		_ = h.drain(ctx, tn, conn, b.MaxBatch(), d.Target.AccountID, owner(ctx))
		return nil
	}
	return h.writeAlone(ctx, tn, conn, d.Target.AccountID, d.RowID)
}

// resolve chooses the call's CRM target and records it.
func (h *CallsHandler) resolve(ctx context.Context, tn telephony.Tenant, d CallDelivery) (CallTarget, error) {
	state := FoldCall(d.Events)
	dec, _, err := h.Calls.DecisionByCallID(ctx, tn.ID, d.CallID)
	if err != nil && !telephony.IsNotFound(err) {
		return CallTarget{}, fmt.Errorf("routing decision: %w", err)
	}
	accts, err := h.accounts(ctx, tn.ID)
	if err != nil {
		return CallTarget{}, err
	}
	candidates := candidateAccounts(accts, dec.AccountID)
	if len(candidates) == 0 {
		return CallTarget{}, fmt.Errorf("no CRM account is linked to the tenant: %w", asynq.SkipRetry)
	}
	var target CallTarget
	switch {
	case dec.AccountID == candidates[0].ID && dec.EntityID != "":
		target = CallTarget{AccountID: dec.AccountID, Entity: &connectors.EntityRef{Kind: connectors.EntityKind(dec.EntityKind),
			ID: dec.EntityID}, Responsible: dec.CRMUserID}
	case state.Customer() == "" && h.waiting(d):
		return CallTarget{}, errWaitingForNumber
	default:
		if target, err = h.lookup(ctx, tn, d, state, candidates); err != nil {
			return CallTarget{}, err
		}
	}
	return h.Calls.SetCallTarget(ctx, d.RowID, target)
}

// waiting reports whether d may still wait for its customer's number.
func (h *CallsHandler) waiting(d CallDelivery) bool {
	wait := h.NumberWait
	if wait <= 0 {
		wait = DefaultNumberWait
	}
	oldest := h.now()
	for _, e := range d.Events {
		if e.CreatedAt.Before(oldest) {
			oldest = e.CreatedAt
		}
	}
	return h.now().Sub(oldest) < wait
}

// candidateAccounts lists where a call may go: the routing decision's
// account when it is still linked, else the connected accounts oldest
// first, else those needing a relink (the call is then parked).
func candidateAccounts(accts []connectors.Account, decided int64) []connectors.Account {
	for _, a := range accts {
		if a.ID == decided && a.Status != connectors.StatusDisconnected {
			return []connectors.Account{a}
		}
	}
	var connected, relink []connectors.Account
	for _, a := range accts {
		switch a.Status {
		case connectors.StatusConnected:
			connected = append(connected, a)
		case connectors.StatusNeedsRelink:
			relink = append(relink, a)
		}
	}
	return append(connected, relink...)
}

// lookup finds the customer's record in the candidate accounts, searching
// the tenant's entity kinds in order (closed records are passed over), and
// otherwise creates one when the tenant asks for it. With no number, or
// nothing found, the call goes to the first account that answers.
func (h *CallsHandler) lookup(ctx context.Context, tn telephony.Tenant, d CallDelivery, state CallState,
	candidates []connectors.Account) (CallTarget, error) {
	number := state.Customer()
	var first *connectors.Account
	var firstConn connectors.Connector
	var refused error
	for i := range candidates {
		a := candidates[i]
		conn, err := h.Connections.ConnectorFor(ctx, a.ID)
		if errors.Is(err, connectors.ErrUnauthorized) {
			refused = errors.Join(refused, err)
			continue
		} else if err != nil {
			return CallTarget{}, err
		}
		if first == nil {
			first, firstConn = &a, conn
		}
		if number == "" {
			break
		}
		for _, kind := range tn.Routing.Order {
			found, err := conn.FindByPhone(ctx, connectors.EntityKind(kind), number)
			switch {
			case errors.Is(err, connectors.ErrUnsupported):
				continue
			case errors.Is(err, connectors.ErrUnauthorized):
				return CallTarget{}, h.parkCall(ctx, d.RowID, a.ID, err)
			case err != nil:
				return CallTarget{}, fmt.Errorf("find %s %s in account %d: %w", kind, number, a.ID, err)
			}
			for _, e := range found {
				if !e.Closed {
					return CallTarget{AccountID: a.ID, Entity: &connectors.EntityRef{Kind: e.Kind, ID: e.ID},
						Responsible: e.ResponsibleUserID}, nil
				}
			}
		}
	}
	if first == nil {
		return CallTarget{}, h.parkCall(ctx, d.RowID, candidates[0].ID, refused)
	}
	target := CallTarget{AccountID: first.ID}
	if number == "" || tn.Routing.UnknownCaller == "" || tn.Routing.UnknownCaller == "none" {
		return target, nil
	}
	creator, ok := firstConn.(connectors.EntityCreator)
	if !ok {
		return target, nil
	}
	answeredBy, _, err := h.answeredBy(ctx, tn.ID, first.ID, []CallState{state})
	if err != nil {
		return CallTarget{}, err
	}
	ne := connectors.NewEntity{Kind: connectors.EntityKind(tn.Routing.UnknownCaller), Title: "Call from " + number,
		Phone: number, ResponsibleUserID: answeredBy[0]}
	e, err := creator.CreateEntity(ctx, ne)
	if errors.Is(err, connectors.ErrUnsupported) && ne.Kind == connectors.KindLead {
		ne.Kind = connectors.KindDeal // e.g. amoCRM, whose "lead" is a deal
		e, err = creator.CreateEntity(ctx, ne)
	}
	switch {
	case errors.Is(err, connectors.ErrUnsupported):
		return target, nil
	case errors.Is(err, connectors.ErrUnauthorized):
		return CallTarget{}, h.parkCall(ctx, d.RowID, first.ID, err)
	case err != nil:
		return CallTarget{}, fmt.Errorf("create %s for unknown caller %s: %w", ne.Kind, number, err)
	}
	return CallTarget{AccountID: first.ID, Entity: &connectors.EntityRef{Kind: e.Kind, ID: e.ID},
		Responsible: e.ResponsibleUserID}, nil
}

// answeredBy returns, per state, the employee who answered (recognised by
// id, or by one of their contacts) and the CRM user of the account linked
// to them: "" and 0 when nobody answered or nobody is recognised or linked.
func (h *CallsHandler) answeredBy(ctx context.Context, tenantID, accountID int64, states []CallState) ([]string, []int64, error) {
	ids := make([]int64, len(states))
	for i, s := range states {
		if !s.Answered {
			continue
		}
		ids[i] = s.AnsweredByEmployee
		if ids[i] == 0 && s.AnsweredByContact != "" {
			emp, err := h.Calls.EmployeeByContact(ctx, tenantID, s.AnsweredByContact)
			if err != nil && !telephony.IsNotFound(err) {
				return nil, nil, err
			}
			ids[i] = emp.ID
		}
	}
	want := slices.DeleteFunc(slices.Clone(ids), func(id int64) bool { return id == 0 })
	out := make([]string, len(states))
	if len(want) == 0 {
		return out, ids, nil
	}
	users, err := h.Calls.LinkedCRMUsers(ctx, accountID, want)
	if err != nil {
		return nil, nil, err
	}
	for i, id := range ids {
		out[i] = users[id]
	}
	return out, ids, nil
}

// failed records a failed attempt at the calls and returns what the task
// returns: rate limits and busy calls retry without counting; a refused
// token parks the account's events; permanent failures (and the last
// retry) mark the events failed and archive the task with the reason;
// anything else counts an attempt and retries with backoff.
func (h *CallsHandler) failed(ctx context.Context, ds []CallDelivery, err error) error {
	switch {
	case errors.Is(err, errParked):
		return nil
	case errors.Is(err, ErrBusy), errors.As(err, new(*connectors.RateLimitError)):
		return err
	case errors.Is(err, connectors.ErrUnauthorized) && len(ds) > 0 && ds[0].Target.AccountID != 0:
		return h.parkAccount(ctx, ds[0].Target.AccountID, err)
	}
	err = classify(err)
	status := EventPending
	if errors.Is(err, asynq.SkipRetry) || finalAttempt(ctx) {
		status = EventFailed
	}
	var ups []CallUpdate
	for _, d := range ds {
		up := CallUpdate{RowID: d.RowID}
		for _, e := range d.Events {
			if e.Deliverable() {
				up.Events = append(up.Events, EventUpdate{ID: e.ID, Status: status, Error: err.Error()})
			}
		}
		ups = append(ups, up)
	}
	sctx, cancel := detached(ctx)
	defer cancel()
	if serr := h.Calls.SaveDeliveries(sctx, ups); serr != nil {
		return errors.Join(err, fmt.Errorf("record the failure: %w", serr))
	}
	return err
}

// parkCall parks one call behind an account whose token the CRM refused
// while its target was being resolved, and marks the account; it returns
// errParked.
func (h *CallsHandler) parkCall(ctx context.Context, rowID, accountID int64, cause error) error {
	sctx, cancel := detached(ctx)
	defer cancel()
	reason := "the CRM refused our token: " + cause.Error()
	if err := h.Calls.MarkNeedsRelink(sctx, accountID, reason); err != nil {
		return fmt.Errorf("account %d: mark needs_relink: %w", accountID, err)
	}
	h.invalidate(accountID)
	if err := h.Calls.ParkCall(sctx, rowID, accountID, reason); err != nil {
		return fmt.Errorf("park call: %w", err)
	}
	return errParked
}

// invalidate drops the resolver's cached connector of the account, when
// Connections caches (connectors.Resolver does), so a relink takes effect.
func (h *CallsHandler) invalidate(accountID int64) {
	if inv, ok := h.Connections.(interface{ Invalidate(int64) }); ok {
		inv.Invalidate(accountID)
	}
}

// parkAccount marks the account needs_relink, parks its calls' events and
// drops the cached connector; the task ends (nil): the Sweeper resumes the
// events once the account is connected again.
func (h *CallsHandler) parkAccount(ctx context.Context, accountID int64, cause error) error {
	sctx, cancel := detached(ctx)
	defer cancel()
	reason := "the CRM refused our token: " + cause.Error()
	if err := h.Calls.MarkNeedsRelink(sctx, accountID, reason); err != nil {
		return fmt.Errorf("account %d: mark needs_relink: %w", accountID, err)
	}
	h.invalidate(accountID)
	if err := h.Calls.ParkAccount(sctx, accountID, reason); err != nil {
		return fmt.Errorf("account %d: park its events: %w", accountID, err)
	}
	return nil
}

// detached returns a context that outlives ctx's deadline by a little, for
// recording what an attempt cut short did.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}
