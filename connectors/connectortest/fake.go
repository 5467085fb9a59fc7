package connectortest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/crmsync/crmsync/connectors"
)

// FakeKinds are the kinds Fake supports: all of them.
var FakeKinds = map[connectors.EntityKind]string{
	connectors.KindLead:    "lead",
	connectors.KindDeal:    "deal",
	connectors.KindContact: "contact",
}

// Fake is an in-memory Connector over a Backend, with every optional
// capability, for tests of packages that use connectors. Injected faults
// become the errors a real connector returns for them (401 →
// ErrUnauthorized, 429 → *RateLimitError, other 4xx → ErrInvalid, 5xx and
// Malformed → a transient error); Delay waits, bounded by the context.
// Fake passes Run with Options{Kinds: FakeKinds}.
type Fake struct {
	B *Backend
}

// Interface guards.
var (
	_ connectors.Connector       = (*Fake)(nil)
	_ connectors.BatchCallLogger = (*Fake)(nil)
	_ connectors.TaskCreator     = (*Fake)(nil)
	_ connectors.EntityCreator   = (*Fake)(nil)
	_ connectors.OwnedCounter    = (*Fake)(nil)
)

// NewFake returns a Fake serving b.
func NewFake(b *Backend) *Fake { return &Fake{B: b} }

// fault counts a request and turns the next injected fault into an error.
func (f *Fake) fault(ctx context.Context, op string) error {
	f.B.mu.Lock()
	f.B.requests["fake "+op]++
	f.B.requests[""]++
	f.B.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fake: %s: %w", op, err)
	}
	flt, ok := f.B.NextFault()
	if !ok {
		return nil
	}
	if flt.Delay > 0 {
		t := time.NewTimer(flt.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("fake: %s: %w", op, ctx.Err())
		}
	}
	switch s := flt.Status; {
	case flt.Malformed:
		return fmt.Errorf("fake: %s: decode: unexpected end of JSON input", op)
	case s == 0:
		return nil
	case s == http.StatusUnauthorized:
		return fmt.Errorf("fake: %s: %w", op, connectors.ErrUnauthorized)
	case s == http.StatusTooManyRequests:
		return fmt.Errorf("fake: %s: %w", op, &connectors.RateLimitError{RetryAfter: flt.RetryAfter})
	case s == http.StatusNotFound:
		return fmt.Errorf("fake: %s: %w", op, connectors.ErrNotFound)
	case s < 500:
		return fmt.Errorf("fake: %s: status %d: %w", op, s, connectors.ErrInvalid)
	default:
		return fmt.Errorf("fake: %s: status %d", op, s)
	}
}

// ListUsers implements connectors.Connector.
func (f *Fake) ListUsers(ctx context.Context) ([]connectors.User, error) {
	if err := f.fault(ctx, "list users"); err != nil {
		return nil, err
	}
	return f.B.Users(), nil
}

// FindByPhone implements connectors.Connector: contacts by their phones,
// other kinds by their own phones or their linked contacts'.
func (f *Fake) FindByPhone(ctx context.Context, kind connectors.EntityKind, phone string) ([]connectors.Entity, error) {
	if err := f.fault(ctx, "find by phone"); err != nil {
		return nil, err
	}
	if !kind.Valid() {
		return nil, fmt.Errorf("fake: find %s: %w", kind, connectors.ErrUnsupported)
	}
	out := []connectors.Entity{}
	for _, r := range f.B.Records(kind) {
		ok := connectors.AnyPhone(r.Phones, phone)
		for _, c := range f.B.Linked(r.ID, connectors.KindContact) {
			ok = ok || (kind != connectors.KindContact && connectors.AnyPhone(c.Phones, phone))
		}
		if ok {
			out = append(out, r.Entity)
		}
	}
	return out, nil
}

// LogCall implements connectors.Connector.
func (f *Fake) LogCall(ctx context.Context, call connectors.CallActivity) (connectors.CallRef, error) {
	if err := f.fault(ctx, "log call"); err != nil {
		return connectors.CallRef{}, err
	}
	return f.logCall(call)
}

func (f *Fake) logCall(call connectors.CallActivity) (connectors.CallRef, error) {
	if call.Ref.ID == "" {
		return connectors.CallRef{ID: f.B.CreateCall(call)}, nil
	}
	err := f.B.UpdateCall(call.Ref.ID, func(c *connectors.CallActivity) { *c = call })
	if err != nil {
		return connectors.CallRef{}, fmt.Errorf("fake: log call: %w", err)
	}
	return call.Ref, nil
}

// MaxBatch implements connectors.BatchCallLogger.
func (f *Fake) MaxBatch() int { return 50 }

// LogCalls implements connectors.BatchCallLogger, one fault per batch of
// MaxBatch.
func (f *Fake) LogCalls(ctx context.Context, calls []connectors.CallActivity) ([]connectors.CallResult, error) {
	out := make([]connectors.CallResult, 0, len(calls))
	for chunk := range slices.Chunk(calls, f.MaxBatch()) {
		if err := f.fault(ctx, "log calls"); err != nil {
			return nil, err
		}
		for _, c := range chunk {
			ref, err := f.logCall(c)
			out = append(out, connectors.CallResult{Ref: ref, Err: err})
		}
	}
	return out, nil
}

// CreateTask implements connectors.TaskCreator.
func (f *Fake) CreateTask(ctx context.Context, t connectors.Task) (string, error) {
	if err := f.fault(ctx, "create task"); err != nil {
		return "", err
	}
	return f.B.CreateTask(t), nil
}

// CreateEntity implements connectors.EntityCreator.
func (f *Fake) CreateEntity(ctx context.Context, e connectors.NewEntity) (connectors.Entity, error) {
	if err := f.fault(ctx, "create entity"); err != nil {
		return connectors.Entity{}, err
	}
	return f.B.CreateEntity(e).Entity, nil
}

// CountOwned implements connectors.OwnedCounter.
func (f *Fake) CountOwned(ctx context.Context, userID string) (map[connectors.EntityKind]int, error) {
	if err := f.fault(ctx, "count owned"); err != nil {
		return nil, err
	}
	return f.B.CountOwned(userID), nil
}
