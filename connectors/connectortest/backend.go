package connectortest

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/crmsync/crmsync/connectors"
)

// Record is one CRM record a Backend holds.
type Record struct {
	connectors.Entity
	// Company marks an organisation rather than a person. Vendors with a
	// separate object for it (amoCRM companies, HubSpot companies) serve
	// it there; it is always of KindContact.
	Company bool
	// Links are the ids of associated records (a deal's contacts). Links
	// work both ways: Linked finds them from either end.
	Links []string
}

// CallRecord is one call record a fake wrote.
type CallRecord struct {
	ID     string // the id the fake assigned
	Call   connectors.CallActivity
	Writes int // 1 after creation, plus one per update
}

// TaskRecord is one task a fake created.
type TaskRecord struct {
	ID   string
	Task connectors.Task
}

// Backend is an in-memory CRM account that vendor fakes serve. It is safe
// for concurrent use. Ids it assigns are decimal numbers, as most CRMs use.
type Backend struct {
	mu       sync.Mutex
	lastID   int64
	users    []connectors.User
	records  []Record
	created  []string
	calls    []CallRecord
	tasks    []TaskRecord
	faults   []Fault
	requests map[string]int
}

// NewBackend returns an empty Backend.
func NewBackend() *Backend {
	return &Backend{requests: map[string]int{}}
}

// newID returns an id larger than any seen; callers hold b.mu.
func (b *Backend) newID() string {
	b.lastID++
	return strconv.FormatInt(b.lastID, 10)
}

// seeID keeps later ids above a caller-chosen numeric id; callers hold b.mu.
func (b *Backend) seeID(id string) {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > b.lastID {
		b.lastID = n
	}
}

// AddUsers adds CRM users; an empty ID gets one assigned.
func (b *Backend) AddUsers(users ...connectors.User) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range users {
		if u.ID == "" {
			u.ID = b.newID()
		}
		b.seeID(u.ID)
		u.Phones = slices.Clone(u.Phones)
		b.users = append(b.users, u)
	}
}

// Users returns the users in the order they were added.
func (b *Backend) Users() []connectors.User {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.users)
}

// User returns the user with id.
func (b *Backend) User(id string) (connectors.User, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.users {
		if u.ID == id {
			return u, true
		}
	}
	return connectors.User{}, false
}

// AddRecords adds records and returns their ids; an empty ID gets one
// assigned.
func (b *Backend) AddRecords(recs ...Record) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = b.addRecord(r)
	}
	return ids
}

func (b *Backend) addRecord(r Record) string {
	if r.ID == "" {
		r.ID = b.newID()
	}
	b.seeID(r.ID)
	r.Phones = slices.Clone(r.Phones)
	r.Links = slices.Clone(r.Links)
	b.records = append(b.records, r)
	return r.ID
}

// Record returns the record with id.
func (b *Backend) Record(id string) (Record, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.records {
		if r.ID == id {
			return r, true
		}
	}
	return Record{}, false
}

// Records returns the records of kind in the order they were added.
func (b *Backend) Records(kind connectors.EntityKind) []Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Record
	for _, r := range b.records {
		if r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// UpdateRecord applies change to the record with id, as a CRM user editing
// it would. It returns connectors.ErrNotFound for an unknown id.
func (b *Backend) UpdateRecord(id string, change func(*Record)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.records {
		if b.records[i].ID == id {
			change(&b.records[i])
			return nil
		}
	}
	return fmt.Errorf("record %s: %w", id, connectors.ErrNotFound)
}

// Search is a CRM-style full-text search over the records of kind: a record
// matches when the digits of query (three or more) occur in the digits of
// one of its phones, or when its title contains query. Like the real
// searches it returns near-misses on purpose.
func (b *Backend) Search(kind connectors.EntityKind, query string) []Record {
	digits := connectors.PhoneDigits(query)
	lower := strings.ToLower(strings.TrimSpace(query))
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Record
	for _, r := range b.records {
		if r.Kind != kind {
			continue
		}
		hit := lower != "" && strings.Contains(strings.ToLower(r.Title), lower)
		for _, p := range r.Phones {
			if len(digits) >= 3 && strings.Contains(connectors.PhoneDigits(p), digits) {
				hit = true
			}
		}
		if hit {
			out = append(out, r)
		}
	}
	return out
}

// Linked returns the records of kind linked to the record with id, from
// either end of the link.
func (b *Backend) Linked(id string, kind connectors.EntityKind) []Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	var self *Record
	for i := range b.records {
		if b.records[i].ID == id {
			self = &b.records[i]
		}
	}
	var out []Record
	for _, r := range b.records {
		if r.Kind != kind || r.ID == id {
			continue
		}
		if slices.Contains(r.Links, id) || (self != nil && slices.Contains(self.Links, r.ID)) {
			out = append(out, r)
		}
	}
	return out
}

// CreateEntity adds a record for an unknown caller, as a fake's create
// endpoint does, and returns it. Created lists such records.
func (b *Backend) CreateEntity(e connectors.NewEntity, links ...string) Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := Record{Entity: connectors.Entity{
		Kind:              e.Kind,
		Title:             e.Title,
		ResponsibleUserID: e.ResponsibleUserID,
	}, Links: links}
	if e.Phone != "" {
		r.Phones = []string{e.Phone}
	}
	id := b.addRecord(r)
	b.created = append(b.created, id)
	r.ID = id
	return r
}

// Created returns the records made through CreateEntity, in order.
func (b *Backend) Created() []Record {
	b.mu.Lock()
	ids := slices.Clone(b.created)
	b.mu.Unlock()
	out := make([]Record, 0, len(ids))
	for _, id := range ids {
		if r, ok := b.Record(id); ok {
			out = append(out, r)
		}
	}
	return out
}

// CreateCall records a call write and returns the id assigned to it.
func (b *Backend) CreateCall(c connectors.CallActivity) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.newID()
	c.Ref = connectors.CallRef{}
	b.calls = append(b.calls, CallRecord{ID: id, Call: c, Writes: 1})
	return id
}

// UpdateCall applies change to the call record with id and counts the
// write. It returns connectors.ErrNotFound for an unknown id.
func (b *Backend) UpdateCall(id string, change func(*connectors.CallActivity)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range b.calls {
		if b.calls[i].ID == id {
			change(&b.calls[i].Call)
			b.calls[i].Writes++
			return nil
		}
	}
	return fmt.Errorf("call %s: %w", id, connectors.ErrNotFound)
}

// Call returns the call record with id.
func (b *Backend) Call(id string) (CallRecord, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.calls {
		if c.ID == id {
			return c, true
		}
	}
	return CallRecord{}, false
}

// Calls returns every call record in the order they were created.
func (b *Backend) Calls() []CallRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.calls)
}

// CreateTask records a task and returns the id assigned to it.
func (b *Backend) CreateTask(t connectors.Task) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.newID()
	b.tasks = append(b.tasks, TaskRecord{ID: id, Task: t})
	return id
}

// Tasks returns every task in the order they were created.
func (b *Backend) Tasks() []TaskRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.tasks)
}

// CountOwned counts the records of each kind userID is responsible for.
func (b *Backend) CountOwned(userID string) map[connectors.EntityKind]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[connectors.EntityKind]int{}
	for _, r := range b.records {
		if r.ResponsibleUserID == userID {
			out[r.Kind]++
		}
	}
	return out
}
