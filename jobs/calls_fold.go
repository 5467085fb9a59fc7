package jobs

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// CallState is a call as its events describe it.
type CallState struct {
	Direction          connectors.Direction `json:"direction"`
	Caller             string               `json:"caller"`
	Callee             string               `json:"callee"`
	StartedAt          *time.Time           `json:"started_at"`
	AnsweredAt         *time.Time           `json:"answered_at"`
	EndedAt            *time.Time           `json:"ended_at"`
	DurationS          int64                `json:"duration_s"`
	Answered           bool                 `json:"answered"`
	Finished           bool                 `json:"finished"`
	AnsweredByEmployee int64                `json:"answered_by_employee_id,omitempty"`
	AnsweredByContact  string               `json:"answered_by_contact,omitempty"`
	RecordingURL       string               `json:"recording_url,omitempty"`
	Category           string               `json:"category,omitempty"`
	Value              string               `json:"value,omitempty"`
	Comment            string               `json:"comment,omitempty"`
}

// SortEvents puts a call's events in delivery order: by seq, then by when
// they happened, then by arrival.
func SortEvents(events []StoredEvent) {
	slices.SortStableFunc(events, func(a, b StoredEvent) int {
		return cmp.Or(cmp.Compare(a.Event.Seq, b.Event.Seq),
			a.Event.OccurredAt.Compare(b.Event.OccurredAt), cmp.Compare(a.ID, b.ID))
	})
}

// FoldCall folds a call's events, in delivery order, into its state. Every
// event counts, delivered or not: each CRM write carries the whole call.
//
// Direction, caller and callee: the latest non-empty value. call.started
// sets the start; call.answered marks the call answered and by whom;
// call.finished sets the end, duration and recording, and its answered
// flag has the last word (a finished-unanswered call forgets who answered).
// call.tagged sets the category and value (each when non-empty);
// call.commented replaces the comment (the PBX sends a comment's whole
// text each time it is saved). A call without call.started starts at its
// end minus its duration, else at its earliest event.
func FoldCall(events []StoredEvent) CallState {
	s := CallState{Direction: connectors.Inbound}
	var earliest time.Time
	for _, se := range events {
		e := se.Event
		if earliest.IsZero() || e.OccurredAt.Before(earliest) {
			earliest = e.OccurredAt
		}
		if e.Direction != "" {
			s.Direction = e.Direction
		}
		if e.Caller != "" {
			s.Caller = e.Caller
		}
		if e.Callee != "" {
			s.Callee = e.Callee
		}
		at := e.OccurredAt
		switch e.Kind {
		case EventStarted:
			s.StartedAt = &at
		case EventAnswered:
			s.Answered, s.AnsweredAt = true, &at
			s.AnsweredByEmployee, s.AnsweredByContact = e.EmployeeID, e.AnsweredByContact
		case EventFinished:
			s.Finished, s.EndedAt = true, &at
			if e.DurationS != nil {
				s.DurationS = *e.DurationS
			}
			if e.Answered != nil {
				s.Answered = *e.Answered
			}
			if !s.Answered {
				s.AnsweredAt, s.AnsweredByEmployee, s.AnsweredByContact = nil, 0, ""
			}
			if e.RecordingURL != "" {
				s.RecordingURL = e.RecordingURL
			}
		case EventTagged:
			if e.Category != "" {
				s.Category = e.Category
			}
			if e.Value != "" {
				s.Value = e.Value
			}
		case EventCommented:
			s.Comment = e.Text
		}
	}
	if s.StartedAt == nil && !earliest.IsZero() {
		start := earliest
		if s.EndedAt != nil && s.DurationS > 0 {
			start = s.EndedAt.Add(-time.Duration(s.DurationS) * time.Second)
		}
		s.StartedAt = &start
	}
	return s
}

// Customer is the customer's number: the caller of an inbound call, the
// callee of an outbound one.
func (s CallState) Customer() string {
	if s.Direction == connectors.Outbound {
		return s.Callee
	}
	return s.Caller
}

// Ours is our side's number: the DID of an inbound call, the caller of an
// outbound one.
func (s CallState) Ours() string {
	if s.Direction == connectors.Outbound {
		return s.Caller
	}
	return s.Callee
}

// Missed reports whether the call is a finished inbound call nobody
// answered.
func (s CallState) Missed() bool {
	return s.Finished && !s.Answered && s.Direction != connectors.Outbound
}

// Activity is the CRM write of the call: state plus target, record and
// answering CRM user.
func (s CallState) Activity(callID string, t CallTarget, ref connectors.CallRef, answeredBy string) connectors.CallActivity {
	a := connectors.CallActivity{
		ExternalCallID: callID,
		Ref:            ref,
		Direction:      s.Direction,
		From:           s.Customer(),
		To:             s.Ours(),
		Duration:       time.Duration(s.DurationS) * time.Second,
		Answered:       s.Answered,
		AnsweredBy:     answeredBy,
		Responsible:    t.Responsible,
		Entity:         t.Entity,
		RecordingURL:   s.RecordingURL,
		Category:       s.Category,
		Value:          s.Value,
		Comment:        s.Comment,
	}
	if s.StartedAt != nil {
		a.StartedAt = *s.StartedAt
	}
	if !s.Answered {
		a.AnsweredBy = ""
	}
	return a
}

// CallStatus is a call as GET /api/v1/calls/{id} shows it: its state as
// its events describe it, where it went in the CRM, and each event's
// delivery.
type CallStatus struct {
	CallID string `json:"call_id"`
	// Status sums the events up: delivered when all are, else failed,
	// parked or pending, the first that any event has in that order.
	Status string `json:"status"`
	CallState
	CRM    CallCRM       `json:"crm"`
	Events []EventStatus `json:"events"`
}

// CallCRM is where a call went in the CRM.
type CallCRM struct {
	AccountID          int64               `json:"account_id,omitempty"`
	EntityKind         string              `json:"entity_kind,omitempty"` // lead, deal or contact
	EntityID           string              `json:"entity_id,omitempty"`
	ResponsibleCRMUser string              `json:"responsible_crm_user,omitempty"`
	Ref                *connectors.CallRef `json:"ref,omitempty"`
}

// EventStatus is one event's delivery.
type EventStatus struct {
	Kind        EventKind           `json:"kind"`
	Seq         int64               `json:"seq"`
	OccurredAt  time.Time           `json:"occurred_at"`
	Status      string              `json:"status"`
	Attempts    int                 `json:"attempts"`
	LastError   string              `json:"last_error,omitempty"`
	CRMRef      *connectors.CallRef `json:"crm_ref,omitempty"`
	ReceivedAt  time.Time           `json:"received_at"`
	DeliveredAt *time.Time          `json:"delivered_at,omitempty"`
}

// NewCallStatus describes d.
func NewCallStatus(d CallDelivery) CallStatus {
	SortEvents(d.Events)
	cs := CallStatus{CallID: d.CallID, CallState: FoldCall(d.Events), Events: make([]EventStatus, len(d.Events))}
	if d.Resolved || d.Target.AccountID != 0 {
		cs.CRM = CallCRM{AccountID: d.Target.AccountID, ResponsibleCRMUser: d.Target.Responsible}
		if e := d.Target.Entity; e != nil {
			cs.CRM.EntityKind, cs.CRM.EntityID = string(e.Kind), e.ID
		}
	}
	if d.Ref.ID != "" {
		ref := d.Ref
		cs.CRM.Ref = &ref
	}
	seen := map[string]bool{}
	for i, e := range d.Events {
		es := EventStatus{Kind: e.Event.Kind, Seq: e.Event.Seq, OccurredAt: e.Event.OccurredAt, Status: e.Status,
			Attempts: e.Attempts, LastError: e.LastError, ReceivedAt: e.CreatedAt, DeliveredAt: e.DeliveredAt}
		if e.Status == EventDelivered {
			ref := connectors.CallRef{ID: d.Ref.ID, Extra: maps.Clone(d.Ref.Extra)}
			if len(e.Ref.Extra) > 0 {
				if ref.Extra == nil {
					ref.Extra = map[string]string{}
				}
				maps.Copy(ref.Extra, e.Ref.Extra)
			}
			es.CRMRef = &ref
		}
		cs.Events[i] = es
		seen[e.Status] = true
	}
	cs.Status = EventDelivered
	for _, s := range []string{EventFailed, EventParked, EventPending} {
		if seen[s] {
			cs.Status = s
			break
		}
	}
	return cs
}
