// Package connectors defines the contract every CRM connector implements, the
// CRM-facing vocabulary (users, entities, call activities), the error kinds
// callers branch on, and the registry through which binaries find connectors
// by name.
//
// A connector adapts one CRM. It never touches the database: it receives
// Credentials (a base URL and an authenticated *http.Client) and talks HTTP.
// Everything beyond the small Connector interface is an optional capability
// interface, found by type assertion with a documented fallback, in the way
// database/sql/driver finds driver.Pinger.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Connector talks to one linked CRM account. Implementations must be safe for
// concurrent use and must not touch the database.
type Connector interface {
	// ListUsers returns every user of the account, active or not.
	ListUsers(ctx context.Context) ([]User, error)

	// FindByPhone returns the open and closed entities of kind whose phone
	// fields hold phone, an E.164 number. Implementations re-check every
	// match against the normalised number themselves (CRM searches are
	// full-text and return near-misses). It returns an empty slice and a nil
	// error when nothing matches, and ErrUnsupported for a kind the CRM lacks.
	FindByPhone(ctx context.Context, kind EntityKind, phone string) ([]Entity, error)

	// LogCall writes a call to the CRM and returns a reference to the record
	// it wrote. When call.Ref is set, LogCall updates that record instead of
	// creating a new one, so later events about one call land on one record.
	LogCall(ctx context.Context, call CallActivity) (CallRef, error)
}

// BatchCallLogger is an optional capability for CRMs that accept many call
// writes in one request. Without it, callers loop over LogCall.
type BatchCallLogger interface {
	// MaxBatch is the most calls one LogCalls request may carry.
	MaxBatch() int
	// LogCalls writes calls in as few requests as the CRM allows. The
	// result has one entry per call, in order; a per-call failure is
	// reported in its entry, a whole-request failure as the error.
	LogCalls(ctx context.Context, calls []CallActivity) ([]CallResult, error)
}

// TaskCreator is an optional capability: create a to-do for a CRM user (a
// missed call, an answer by someone other than the responsible manager).
// Without it, callers fall back to a note through LogCall's Comment.
type TaskCreator interface {
	CreateTask(ctx context.Context, task Task) (string, error)
}

// EntityCreator is an optional capability: create a lead or contact for an
// unknown caller. Without it, unknown callers are not recorded as entities.
type EntityCreator interface {
	CreateEntity(ctx context.Context, e NewEntity) (Entity, error)
}

// OwnedCounter is an optional capability: count the records a user is
// responsible for, so a sync report can say what a deactivated user still
// owns. Without it, the report says the count is unknown.
type OwnedCounter interface {
	CountOwned(ctx context.Context, userID string) (map[EntityKind]int, error)
}

// WebhookParser is an optional capability: verify and decode the CRM's
// webhook request into changes that invalidate cached routing answers.
// It returns ErrUnauthorized when the request fails verification.
type WebhookParser interface {
	ParseWebhook(r *http.Request, body []byte) ([]Change, error)
}

// EntityKind is a kind of CRM record that can name a responsible manager.
type EntityKind string

// The entity kinds, in the default smart-forwarding order. Each connector maps
// them onto its CRM's objects (an amoCRM "lead" is a deal, see the README).
const (
	KindLead    EntityKind = "lead"
	KindDeal    EntityKind = "deal"
	KindContact EntityKind = "contact"
)

// DefaultOrder is the smart-forwarding search order when a tenant sets none.
var DefaultOrder = []EntityKind{KindLead, KindDeal, KindContact}

// Valid reports whether k is one of the known kinds.
func (k EntityKind) Valid() bool {
	return k == KindLead || k == KindDeal || k == KindContact
}

// User is a CRM user: a candidate responsible manager.
type User struct {
	ID     string
	Name   string
	Email  string
	Phones []string // as the CRM holds them; normalise before comparing
	Active bool
}

// Entity is a CRM record (lead, deal or contact) with its responsible user.
type Entity struct {
	Kind              EntityKind
	ID                string
	Title             string
	ResponsibleUserID string // empty when the CRM has no owner on it
	Phones            []string
	Closed            bool // won/lost deals and converted/junk leads
	UpdatedAt         time.Time
}

// Direction says who placed a call.
type Direction string

// Call directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// CallActivity is what we write to a CRM about one call. Fields that are
// zero are left out of the write.
type CallActivity struct {
	ExternalCallID string // our call id; unique per call, sent to CRMs that dedupe on it
	Ref            CallRef
	Direction      Direction
	From, To       string // E.164 numbers (the customer's and ours)
	StartedAt      time.Time
	Duration       time.Duration
	Answered       bool
	AnsweredBy     string // CRM user id of who answered; empty when unmatched or missed
	Responsible    string // CRM user id of the responsible manager
	Entity         *EntityRef
	RecordingURL   string
	Category       string
	Value          string
	Comment        string
}

// EntityRef names one CRM record.
type EntityRef struct {
	Kind EntityKind
	ID   string
}

// CallRef identifies the record a CRM created for a call, so later events
// update it. ID is the CRM's id; Extra holds what some CRMs need besides it
// (e.g. the entity a note hangs on).
type CallRef struct {
	ID    string            `json:"id"`
	Extra map[string]string `json:"extra,omitempty"`
}

// CallResult is one entry of a batch write.
type CallResult struct {
	Ref CallRef
	Err error
}

// Task is a to-do for a CRM user.
type Task struct {
	ResponsibleUserID string
	Entity            *EntityRef
	Text              string
	Due               time.Time
}

// NewEntity describes a lead or contact to create for an unknown caller.
type NewEntity struct {
	Kind              EntityKind
	Title             string
	Phone             string // E.164
	ResponsibleUserID string
}

// Change is a decoded webhook event: something that may change who is
// responsible for a phone number.
type Change struct {
	Kind              EntityKind // empty when the CRM does not say
	EntityID          string
	ResponsibleUserID string // the new responsible user, when known
	Deleted           bool
	Phones            []string // phones on the record, when the event carries them
}

// Errors callers branch on. Connectors wrap them with %w.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("unauthorized")    // token revoked or expired past refresh: relink needed
	ErrInvalid      = errors.New("rejected by crm") // permanent: do not retry
	ErrUnsupported  = errors.New("not supported by this crm")
)

// maxErrorDetail bounds the vendor text StatusError quotes.
const maxErrorDetail = 300

// StatusError maps a failed HTTP answer onto the error kinds, alike for
// every CRM: 401 → ErrUnauthorized; 429 → *RateLimitError waiting
// retryAfter; 404 and 410 → ErrNotFound and ErrInvalid (retrying will not
// make the record appear); other 4xx → ErrInvalid; anything else (5xx) → a
// plain error, which callers treat as transient. detail is the vendor's
// message, "" for none; it is quoted, cut at 300 bytes.
func StatusError(code int, detail string, retryAfter time.Duration) error {
	msg := fmt.Sprintf("status %d", code)
	if detail = strings.TrimSpace(detail); detail != "" {
		if len(detail) > maxErrorDetail {
			detail = detail[:maxErrorDetail] + "…"
		}
		msg += ": " + detail
	}
	switch {
	case code == http.StatusUnauthorized:
		return fmt.Errorf("%s: %w", msg, ErrUnauthorized)
	case code == http.StatusTooManyRequests:
		return &RateLimitError{RetryAfter: retryAfter}
	case code == http.StatusNotFound || code == http.StatusGone:
		return fmt.Errorf("%s: %w: %w", msg, ErrNotFound, ErrInvalid)
	case code >= 400 && code < 500:
		return fmt.Errorf("%s: %w", msg, ErrInvalid)
	default:
		return errors.New(msg)
	}
}

// RateLimitError reports that the CRM throttled us (or would have: the
// client-side limiter can return it before sending).
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s", e.RetryAfter)
}
