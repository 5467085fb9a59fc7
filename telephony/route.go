package telephony

import "time"

// RouteQuery is an incoming call as the PBX presents it: raw numbers, as
// they came in the SIP request or the HTTP lookup.
type RouteQuery struct {
	CallID string // SIP Call-ID, or the PBX's call id for HTTP lookups
	Caller string // raw caller: E.164, national digits, sip:/tel: URI or "anonymous"
	DID    string // raw called number (the tenant's DID)
	// TenantID, when not zero, names the tenant directly (a trusted
	// header from a trusted source) instead of finding it by DID.
	TenantID int64
}

// Outcome is what a routing decision tells the PBX.
type Outcome string

// Outcomes.
const (
	// OutcomeRouted: forward to the responsible manager's main contacts.
	OutcomeRouted Outcome = "routed"
	// OutcomeRedirect: the manager is absent; forward to the absence's
	// redirect target (an employee's contacts or a department).
	OutcomeRedirect Outcome = "redirect"
	// OutcomeFallback: no one found (or no one can take it); the PBX runs
	// its normal scheme. Fallback says which answer to give.
	OutcomeFallback Outcome = "fallback"
)

// Cache says where a decision's CRM answer came from.
type Cache string

// Cache levels.
const (
	CacheLocal Cache = "local" // in-process cache
	CacheRedis Cache = "redis" // shared Redis cache
	CacheMiss  Cache = "miss"  // a live CRM lookup (or none was needed)
)

// Decision is where a call goes and why.
type Decision struct {
	Outcome Outcome `json:"outcome"`
	// Contacts are the targets in order: sip: URIs, or E.164 numbers the
	// PBX dials; empty for a fallback.
	Contacts []string `json:"contacts,omitempty"`
	// Fallback is not_found (404) or unavailable (480) for OutcomeFallback.
	Fallback string `json:"fallback,omitempty"`
	// Reason says why, in one sentence for people.
	Reason string `json:"reason"`
	// Steps is the reasoning step by step, for the route tester.
	Steps []string `json:"steps,omitempty"`

	TenantID   int64  `json:"tenant_id"`
	Caller     string `json:"caller"` // E.164, empty when anonymous or unparseable
	DID        string `json:"did"`
	AccountID  int64  `json:"account_id,omitempty"`
	EntityKind string `json:"entity_kind,omitempty"`
	EntityID   string `json:"entity_id,omitempty"`
	CRMUserID  string `json:"crm_user_id,omitempty"`
	EmployeeID int64  `json:"employee_id,omitempty"`

	Cache   Cache         `json:"cache"`
	Latency time.Duration `json:"latency_ns"`
}

// CallDecision is a decision answered for one call, as the router records
// it.
type CallDecision struct {
	CallID   string // SIP Call-ID
	Decision Decision
}

// SIPStatus is the SIP final response code for a decision: 302 for routed
// and redirect, 404 or 480 for a fallback.
func (d Decision) SIPStatus() int {
	switch {
	case d.Outcome != OutcomeFallback && len(d.Contacts) > 0:
		return 302
	case d.Fallback == FallbackUnavailable:
		return 480
	}
	return 404
}
