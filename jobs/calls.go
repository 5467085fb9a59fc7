package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/telephony"
)

// Call push-back: what the PBX tells us about a call reaches the CRM once.
//
// The outbox. web stores each accepted event in call_events (and its call
// in calls) in one transaction, then enqueues a TypeDeliverCall task for
// every call that got new events. A lost enqueue (Redis down or flushed, an
// embedded-mode restart) is repaired by the Sweeper, which re-enqueues calls
// whose events stay pending; the database, not Redis, is the truth.
//
// Task ids. A call's tasks are named after the newest event they were
// enqueued for (its "generation", the event's row id):
//
//	crm:deliver_call:<tenant>:<call row>:<gen>    one per call per intake, and per sweep of a stuck call
//	crm:write_calls:<call row>:<gen>              the call's entry in its account's batch group
//	crm:write_calls:<call row>:<gen>:solo         a call retried alone after its batch entry failed
//	crm:write_calls:drain:<account>:<unix s>      a drain of the account continued (batch.go)
//
// so a repeated intake or sweep is a conflict (no-op) while the task lives,
// and a later event gets a task of its own. Every handler delivers all of
// the call's undelivered events at once, folded in order (FoldCall), so
// tasks may run late or twice: one that finds nothing to do does nothing.
//
// One writer per call. Before writing, a handler takes the call's lease
// (calls.lease_owner/lease_until) under an owner unique to this execution
// of the task (withOwner); another execution that finds the lease taken,
// even one of the same task queued again after Redis lost it, tries again
// shortly (ErrBusy). A killed worker's leases lapse after Lease. The lease
// outlives CallTimeout, so a live writer never loses it.
//
// Exactly once. The CRM's record id (connectors.CallRef) is saved on the
// call in the same transaction that marks its events delivered; later
// events update that record through Ref instead of creating another. A
// worker killed before the CRM answered leaves the events pending and the
// write is repeated by the next attempt: one effective write. The one window
// left is a worker killed after the CRM committed a *new* record and before
// our commit (milliseconds): neither amoCRM (uniq) nor HubSpot
// (hs_call_external_id) rejects a second call with our ExternalCallID, so
// that record may be written twice. Closing it needs a CRM-side
// find-by-external-id, which no connector offers yet. The same window holds
// for a follow-up task, and for a record created for an unknown caller.
//
// Failures. Rate limits wait for Retry-After without counting as attempts;
// a token the CRM refuses parks the account's events (EventParked) and
// marks it needs_relink, and the Sweeper resumes them once it is connected
// again; a request the CRM rejects fails the events (EventFailed) and
// archives the task with the reason, and re-running that task (from the
// dashboard) writes them again; anything else backs off (CallRetryDelay)
// and, when retries run out, fails the events too.

// Task types of call push-back.
const (
	// TypeDeliverCall resolves a call's CRM target and writes it, or hands
	// the write to its account's batch group.
	TypeDeliverCall = "crm:deliver_call"
	// TypeWriteCalls writes calls of one account; grouped per account and
	// aggregated by CallAggregator, or one call retried alone.
	TypeWriteCalls = "crm:write_calls"
)

// Call task settings.
const (
	// CallMaxRetry counts failed attempts only (rate limits and busy calls
	// do not count); with CallRetryDelay's backoff, capped at 10 minutes,
	// it outlasts a CRM outage of several hours.
	CallMaxRetry = 30
	// CallTimeout bounds one attempt: a CRM write waits for the account's
	// rate limit, so it is well above one request.
	CallTimeout = 45 * time.Second
	// DefaultCallLease is how long a call's lease holds: longer than
	// CallTimeout, so a live writer never loses it.
	DefaultCallLease = CallTimeout + 15*time.Second
)

// EventKind is the kind of a PBX call event.
type EventKind string

// Event kinds.
const (
	EventStarted   EventKind = "call.started"
	EventAnswered  EventKind = "call.answered"
	EventFinished  EventKind = "call.finished"
	EventTagged    EventKind = "call.tagged"
	EventCommented EventKind = "call.commented"
)

// EventKinds lists the event kinds, in a call's usual order.
var EventKinds = []EventKind{EventStarted, EventAnswered, EventFinished, EventTagged, EventCommented}

// Valid reports whether k is a known kind.
func (k EventKind) Valid() bool {
	switch k {
	case EventStarted, EventAnswered, EventFinished, EventTagged, EventCommented:
		return true
	}
	return false
}

// Event delivery statuses, as stored in call_events.status.
const (
	EventPending   = "pending"   // waiting to be written (or retried)
	EventDelivered = "delivered" // in the CRM; crm_ref names the record
	EventFailed    = "failed"    // the CRM refused it for good, or retries ran out; its task is archived
	EventParked    = "parked"    // the account needs relinking; resumed when it is connected again
)

// CallEvent is one validated PBX call event. Its JSON is both the API's
// wire format (after normalisation: numbers in E.164) and the stored
// payload. (tenant, CallID, Kind, Seq) identifies it: a repeat is a no-op.
type CallEvent struct {
	CallID     string    `json:"call_id"`
	Kind       EventKind `json:"kind"`
	Seq        int64     `json:"seq"`
	OccurredAt time.Time `json:"occurred_at"`

	// Context any event may carry; the latest non-empty value wins.
	Direction connectors.Direction `json:"direction,omitempty"`
	Caller    string               `json:"caller,omitempty"` // E.164; empty when anonymous
	Callee    string               `json:"callee,omitempty"` // E.164 (the DID of an inbound call)

	// call.answered: who answered, by employee id or by one of the
	// employee's main or other contacts (E.164 or SIP URI).
	EmployeeID        int64  `json:"employee_id,omitempty"`
	AnsweredByContact string `json:"answered_by_contact,omitempty"`

	// call.finished.
	DurationS    *int64 `json:"duration_s,omitempty"`
	Answered     *bool  `json:"answered,omitempty"`
	RecordingURL string `json:"recording_url,omitempty"`

	// call.tagged.
	Category string `json:"category,omitempty"`
	Value    string `json:"value,omitempty"`

	// call.commented.
	Text string `json:"text,omitempty"`
}

// IdempotencyKey is the event's identity within its tenant. Kind and seq
// never hold "|", so the key is unambiguous whatever the call id holds.
func (e CallEvent) IdempotencyKey() string {
	return e.CallID + "|" + string(e.Kind) + "|" + strconv.FormatInt(e.Seq, 10)
}

// RecordOutcome says what happened to one posted event.
type RecordOutcome string

// Record outcomes.
const (
	Accepted  RecordOutcome = "accepted"  // stored; it will be delivered
	Duplicate RecordOutcome = "duplicate" // already stored: a no-op
	Rejected  RecordOutcome = "rejected"  // invalid: nothing of it was stored
)

// Recorded is what storing a batch of events did.
type Recorded struct {
	// Outcomes has one entry per event given, in order.
	Outcomes []RecordOutcome
	// Errors holds, by index, why the store rejected an event (an employee
	// id the tenant does not have).
	Errors map[int]*telephony.Error
	// Calls are the calls that got new events, to enqueue after commit.
	Calls []CallKey
}

// CallKey names a call to deliver and the generation (the newest event's
// row id) its task is for.
type CallKey struct {
	TenantID int64  `json:"tenant_id"`
	RowID    int64  `json:"call_row_id"`
	CallID   string `json:"call_id"`
	Gen      int64  `json:"gen"`
}

// CallTarget is where a call goes in the CRM.
type CallTarget struct {
	AccountID   int64
	Entity      *connectors.EntityRef // nil: none found (or created)
	Responsible string                // CRM user id of the responsible manager; "" when unknown
}

// StoredEvent is an event as the outbox holds it.
type StoredEvent struct {
	ID          int64
	Status      string
	Attempts    int
	LastError   string
	Ref         connectors.CallRef // what its delivery added to the call's ref (follow-up task ids)
	CreatedAt   time.Time
	DeliveredAt *time.Time
	Event       CallEvent
}

// Deliverable reports whether delivering the call writes e: pending, or
// failed and being retried (a new event, or an archived task re-run).
func (e StoredEvent) Deliverable() bool {
	return e.Status == EventPending || e.Status == EventFailed
}

// CallDelivery is what delivering one call needs: the call, its target
// once resolved, the CRM record written so far, and every event of it.
type CallDelivery struct {
	RowID    int64
	TenantID int64
	CallID   string
	Resolved bool // Target is chosen (its Entity may still be nil)
	Target   CallTarget
	Ref      connectors.CallRef // zero until the first write
	Events   []StoredEvent      // in delivery order: seq, then occurrence, then arrival
}

// EventUpdate is the new state of one event after a delivery attempt.
type EventUpdate struct {
	ID     int64
	Status string             // EventPending (attempted, will retry), EventDelivered or EventFailed
	Ref    connectors.CallRef // EventDelivered: what its delivery added to the call's ref (task ids)
	Error  string             // EventPending, EventFailed: why
}

// CallUpdate is what one delivery attempt of a call wrote.
type CallUpdate struct {
	RowID int64
	// Ref, when set, is the CRM record now holding the call.
	Ref *connectors.CallRef
	// State and AnsweredByID, when State is set, refresh the call's
	// columns as its events describe it.
	State        *CallState
	AnsweredByID int64
	Events       []EventUpdate
}

// CallStore is what call push-back needs from storage; *store.DB
// implements it. Row ids are the calls table's; tenant ids come from tasks
// that tenant-scoped code enqueued.
type CallStore interface {
	// Tenant returns the tenant with id (its routing settings).
	Tenant(ctx context.Context, id int64) (telephony.Tenant, error)
	// RoutingAccounts lists the tenant's CRM accounts, oldest first.
	RoutingAccounts(ctx context.Context, tenantID int64) ([]connectors.Account, error)
	// DecisionByCallID returns the routing decision recorded for the call,
	// or an ENotFound telephony.Error.
	DecisionByCallID(ctx context.Context, tenantID int64, sipCallID string) (telephony.Decision, time.Time, error)
	// EmployeeByContact returns the employee with the contact (main, mobile
	// or other), or an ENotFound telephony.Error.
	EmployeeByContact(ctx context.Context, tenantID int64, value string) (telephony.Employee, error)
	// Employee returns one employee of the tenant (deleted ones too).
	Employee(ctx context.Context, tenantID, id int64) (telephony.Employee, error)
	// MarkNeedsRelink flags the account for its admin.
	MarkNeedsRelink(ctx context.Context, accountID int64, reason string) error

	// LoadCalls returns the calls with the row ids, with their events;
	// unknown ids are left out.
	LoadCalls(ctx context.Context, rowIDs []int64) ([]CallDelivery, error)
	// SetCallTarget records the call's target unless one was recorded
	// meanwhile, and returns the one that holds.
	SetCallTarget(ctx context.Context, rowID int64, t CallTarget) (CallTarget, error)
	// LinkedCRMUsers maps employees to their linked CRM users of the
	// account; unlinked employees are left out.
	LinkedCRMUsers(ctx context.Context, accountID int64, employeeIDs []int64) (map[int64]string, error)
	// ClaimCalls takes the lease of the calls for owner until until (a
	// lease past its time, or owner's own, is taken over) and returns the
	// row ids it got.
	ClaimCalls(ctx context.Context, rowIDs []int64, owner string, until time.Time) ([]int64, error)
	// ClaimReadyCalls takes the lease of up to limit calls of the account
	// that have pending events and a resolved target, oldest first.
	ClaimReadyCalls(ctx context.Context, accountID int64, owner string, until time.Time, limit int) ([]int64, error)
	// ReleaseCalls gives up owner's leases on the calls.
	ReleaseCalls(ctx context.Context, rowIDs []int64, owner string) error
	// SaveDeliveries applies delivery attempts in one transaction.
	SaveDeliveries(ctx context.Context, updates []CallUpdate) error
	// ParkCall parks the call's undelivered events behind accountID, which
	// needs relinking, and notes the account on the call.
	ParkCall(ctx context.Context, rowID, accountID int64, reason string) error
	// ParkAccount parks the undelivered events of every call of the account.
	ParkAccount(ctx context.Context, accountID int64, reason string) error
	// ResumeParked makes the parked events of calls whose account is
	// connected again pending, and returns those calls.
	ResumeParked(ctx context.Context) ([]CallKey, error)
	// StuckCalls returns calls with pending events that no task seems to
	// hold: never attempted and received before fresh, or last attempted
	// before retried; leased calls are left out. At most limit, by row id
	// after afterRowID.
	StuckCalls(ctx context.Context, fresh, retried time.Time, afterRowID int64, limit int) ([]CallKey, error)
}

// DeliverCallPayload is the payload of a TypeDeliverCall task.
type DeliverCallPayload struct {
	TenantID  int64  `json:"tenant_id"`
	CallRowID int64  `json:"call_row_id"`
	CallID    string `json:"call_id"` // the PBX's id, for people reading the dashboard
	Gen       int64  `json:"gen"`
}

// WriteCallsPayload is the payload of a TypeWriteCalls task: calls of one
// account, each with the generation it was queued for.
type WriteCallsPayload struct {
	TenantID  int64     `json:"tenant_id"`
	AccountID int64     `json:"account_id"`
	Calls     []CallGen `json:"calls"`
	// Drain continues a drain of the account that ran out of time.
	Drain bool `json:"drain,omitempty"`
}

// CallGen is one call of a WriteCallsPayload.
type CallGen struct {
	RowID  int64  `json:"call_row_id"`
	CallID string `json:"call_id"`
	Gen    int64  `json:"gen"`
}

// DeliverCallTaskID is the task id of the delivery of k.
func DeliverCallTaskID(k CallKey) string {
	return fmt.Sprintf("%s:%d:%d:%d", TypeDeliverCall, k.TenantID, k.RowID, k.Gen)
}

// NewDeliverCallTask returns the delivery task of k, on the critical queue.
func NewDeliverCallTask(k CallKey, opts ...asynq.Option) (*asynq.Task, error) {
	if k.TenantID <= 0 || k.RowID <= 0 {
		return nil, fmt.Errorf("jobs: call task needs a tenant and a call row id, got %+v", k)
	}
	b, err := json.Marshal(DeliverCallPayload{TenantID: k.TenantID, CallRowID: k.RowID, CallID: k.CallID, Gen: k.Gen})
	if err != nil {
		return nil, err
	}
	opts = append([]asynq.Option{asynq.Queue(QueueCritical), asynq.MaxRetry(CallMaxRetry), asynq.Timeout(CallTimeout),
		asynq.TaskID(DeliverCallTaskID(k))}, opts...)
	return asynq.NewTask(TypeDeliverCall, b, opts...), nil
}

// newWriteCallsTask returns a write task for p with opts after the common
// options.
func newWriteCallsTask(p WriteCallsPayload, opts ...asynq.Option) (*asynq.Task, error) {
	if p.TenantID <= 0 || p.AccountID <= 0 || (len(p.Calls) == 0 && !p.Drain) {
		return nil, fmt.Errorf("jobs: write task needs a tenant, an account and calls, got %+v", p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	opts = append([]asynq.Option{asynq.Queue(QueueCritical), asynq.MaxRetry(CallMaxRetry), asynq.Timeout(CallTimeout)}, opts...)
	return asynq.NewTask(TypeWriteCalls, b, opts...), nil
}

// AccountGroup is the asynq group of an account's call writes.
func AccountGroup(accountID int64) string { return "account:" + strconv.FormatInt(accountID, 10) }

// EnqueueCalls queues the delivery of each call. A call already queued
// for the same generation is a no-op. It returns the first error after
// trying every call: the Sweeper delivers what was not queued.
func (e *Enqueuer) EnqueueCalls(ctx context.Context, keys []CallKey) error {
	_, err := e.QueueCalls(ctx, keys)
	return err
}

// QueueCalls is EnqueueCalls, and also returns how many tasks it added
// (calls already queued are not counted).
func (e *Enqueuer) QueueCalls(ctx context.Context, keys []CallKey) (int, error) {
	var first error
	added := 0
	for _, k := range keys {
		t, err := NewDeliverCallTask(k)
		if err == nil {
			_, err = e.Client.EnqueueContext(ctx, t)
			switch {
			case err == nil:
				added++
			case errors.Is(err, asynq.ErrTaskIDConflict), errors.Is(err, asynq.ErrDuplicateTask):
				err = nil
			}
		}
		if err != nil && first == nil {
			first = fmt.Errorf("jobs: enqueue delivery of call %s: %w", k.CallID, err)
		}
	}
	return added, first
}
