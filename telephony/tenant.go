// Package telephony is the PBX side of crmsync: tenants and their directory
// (employees, departments, phone numbers), the rules that keep it valid,
// calls, and the smart-forwarding policy. It does no I/O; store persists it
// and web and the router serve it.
package telephony

import (
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Tenant is one PBX customer's project. Everything else belongs to one.
type Tenant struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Prefix    string    `json:"prefix"`   // login prefix: 19079 in 19079_ivan
	Region    string    `json:"region"`   // default phone region, ISO 3166 alpha-2
	TimeZone  string    `json:"timezone"` // IANA zone for schedules and absences
	Routing   Routing   `json:"routing"`
	CreatedAt time.Time `json:"created_at"`
}

// Location returns the tenant's time zone, UTC when it does not load.
func (t Tenant) Location() *time.Location {
	if loc, err := time.LoadLocation(t.TimeZone); err == nil {
		return loc
	}
	return time.UTC
}

// Routing is a tenant's smart-forwarding and push-back settings.
type Routing struct {
	// Order lists the entity kinds to search, first wins: lead, deal,
	// contact by default; any subset in any order.
	Order []string `json:"order"`
	// Deadline bounds how long a call waits on a CRM lookup.
	Deadline Millis `json:"deadline_ms"`
	// Fallback is the answer when no one is found: not_found (404) or
	// unavailable (480); the PBX then runs its normal scheme.
	Fallback string `json:"fallback"`
	// UnknownCaller: none, lead or contact — what push-back creates in the
	// CRM for a caller it does not know.
	UnknownCaller string `json:"unknown_caller"`
	// MissedCallTask creates a task for the responsible manager on a
	// missed call.
	MissedCallTask bool `json:"missed_call_task"`
	// NotifyResponsible tells the responsible manager when someone else
	// answered their client.
	NotifyResponsible bool `json:"notify_responsible"`
}

// Millis is a duration that travels as whole milliseconds.
type Millis int64

// Duration converts m to a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// Routing defaults and bounds.
const (
	DefaultDeadline = Millis(1500)
	MinDeadline     = Millis(100)
	MaxDeadline     = Millis(10000)
)

// Entity kinds a tenant can search, in the default order.
var EntityKinds = []string{"lead", "deal", "contact"}

// Fallback answers.
const (
	FallbackNotFound    = "not_found"
	FallbackUnavailable = "unavailable"
)

// DefaultRouting returns the settings a new tenant starts with.
func DefaultRouting() Routing {
	return Routing{
		Order:             append([]string(nil), EntityKinds...),
		Deadline:          DefaultDeadline,
		Fallback:          FallbackNotFound,
		UnknownCaller:     "none",
		MissedCallTask:    true,
		NotifyResponsible: true,
	}
}

// Validate checks the routing settings and reports every bad field.
func (r Routing) Validate() error {
	var es Errors
	seen := map[string]bool{}
	if len(r.Order) == 0 {
		es.Add("routing.order", "must list at least one of lead, deal, contact")
	}
	for _, k := range r.Order {
		switch {
		case k != "lead" && k != "deal" && k != "contact":
			es.Add("routing.order", "unknown entity kind %q (use lead, deal or contact)", k)
		case seen[k]:
			es.Add("routing.order", "%s is listed twice", k)
		}
		seen[k] = true
	}
	if r.Deadline < MinDeadline || r.Deadline > MaxDeadline {
		es.Add("routing.deadline_ms", "must be between %d and %d", MinDeadline, MaxDeadline)
	}
	if r.Fallback != FallbackNotFound && r.Fallback != FallbackUnavailable {
		es.Add("routing.fallback", "must be not_found or unavailable")
	}
	if r.UnknownCaller != "none" && r.UnknownCaller != "lead" && r.UnknownCaller != "contact" {
		es.Add("routing.unknown_caller", "must be none, lead or contact")
	}
	return es.Err()
}

// NewTenant is what creating a tenant takes.
type NewTenant struct {
	Name     string
	Prefix   string // empty: assigned
	Region   string // empty: US
	TimeZone string // empty: UTC
}

// Normalize trims and validates a new tenant, filling defaults.
func (n NewTenant) Normalize() (NewTenant, error) {
	var es Errors
	n.Name = strings.TrimSpace(n.Name)
	if n.Name == "" {
		es.Add("name", "is required")
	}
	n.Prefix = strings.TrimSpace(n.Prefix)
	if n.Prefix != "" && !isDigits(n.Prefix, 3, 9) {
		es.Add("prefix", "must be 3 to 9 digits")
	}
	n.Region = strings.ToUpper(strings.TrimSpace(n.Region))
	if n.Region == "" {
		n.Region = "US"
	}
	if phonenumbers.GetCountryCodeForRegion(n.Region) == 0 {
		es.Add("region", "unknown region %q (use an ISO 3166 code such as UA or DE)", n.Region)
	}
	if n.TimeZone == "" {
		n.TimeZone = "UTC"
	}
	if _, err := time.LoadLocation(n.TimeZone); err != nil || n.TimeZone == "Local" {
		es.Add("timezone", "unknown time zone %q (use an IANA name such as Europe/Kyiv)", n.TimeZone)
	}
	return n, es.Err()
}

func isDigits(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
