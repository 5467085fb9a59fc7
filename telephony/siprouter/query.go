package siprouter

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"

	"github.com/crmsync/crmsync/telephony"
)

// Headers the router reads besides the ones sipgo parses.
const (
	headerPAI     = "P-Asserted-Identity"
	headerPrivacy = "Privacy"
	// TenantHeader names the tenant directly (its numeric id), instead of
	// finding it by the called number. Honoured only from Trusted sources.
	TenantHeader = "X-Crmsync-Tenant"
)

// anonymousCaller is RouteQuery.Caller for a caller who withheld the
// number; the resolver answers it with the tenant's fallback.
const anonymousCaller = "anonymous"

// routeQuery reads who calls whom from an INVITE, raw as the PBX sent it;
// the resolver normalises the numbers.
//   - DID: the Request-URI's user part, else the To URI's.
//   - Caller: P-Asserted-Identity when the source is trusted and sent one,
//     else From.
//   - TenantID: the X-Crmsync-Tenant header, from a trusted source only.
//
// anonymous is true when the caller withheld the number (Privacy: id, an
// anonymous or empty user, the anonymous.invalid host); Caller is then
// "anonymous".
func routeQuery(req *sip.Request, trusted bool) (q telephony.RouteQuery, anonymous bool) {
	q.CallID = req.CallID().Value()
	q.DID = uriNumber(&req.Recipient)
	if q.DID == "" {
		q.DID = uriNumber(&req.To().Address)
	}

	var pai, privacy, tenant string
	for _, h := range req.Headers() {
		switch name := h.Name(); {
		case len(name) == len(headerPAI) && strings.EqualFold(name, headerPAI):
			if pai == "" {
				pai = h.Value()
			}
		case len(name) == len(headerPrivacy) && strings.EqualFold(name, headerPrivacy):
			privacy = h.Value()
		case len(name) == len(TenantHeader) && strings.EqualFold(name, TenantHeader):
			tenant = h.Value()
		}
	}
	if trusted && tenant != "" {
		q.TenantID = tenantID(tenant)
	}
	if !trusted {
		pai = ""
	}
	from := &req.From().Address
	q.Caller, anonymous = caller(uriNumber(from), strings.EqualFold(from.Host, anonymousHost), pai, privacy)
	return q, anonymous
}

// anonymousHost is the host of a withheld caller's URI (RFC 3323 §4.1.1.3).
const anonymousHost = "anonymous.invalid"

// tenantID reads an X-Crmsync-Tenant value: 0 unless a positive id.
func tenantID(v string) int64 {
	id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || id < 0 {
		return 0
	}
	return id
}

// caller is who calls, from the From URI's number (and whether its host
// is anonymousHost), a P-Asserted-Identity value (from trusted sources
// only; empty for none) and a Privacy value: the asserted number when it
// has one, else From's; anonymousCaller and true when withheld.
func caller(fromNumber string, fromAnonymous bool, pai, privacy string) (string, bool) {
	number, anonHost := fromNumber, fromAnonymous
	if pai != "" {
		if u, ok := assertedIdentity(pai); ok {
			number, anonHost = uriNumber(&u), strings.EqualFold(u.Host, anonymousHost)
		}
	}
	if withheld(number, anonHost, privacy) {
		return anonymousCaller, true
	}
	return number, false
}

// uriNumber is the number part of a URI: the user of a sip:/sips: URI
// (without user parameters such as ;npdi), the subscriber of a tel: URI
// (without parameters), else empty.
func uriNumber(u *sip.Uri) string {
	var n string
	switch u.Scheme {
	case "sip", "sips", "":
		n = u.User
	case "tel":
		n = u.Raw()
	default:
		return ""
	}
	if i := strings.IndexByte(n, ';'); i >= 0 {
		n = n[:i]
	}
	return n
}

// assertedIdentity parses the first usable identity of a
// P-Asserted-Identity value, which may list a sip: and a tel: URI
// (RFC 3325 §9.1).
func assertedIdentity(v string) (sip.Uri, bool) {
	for v != "" {
		entry, rest := cutAddress(v)
		v = rest
		var u sip.Uri
		params := sip.NewParams()
		if _, err := sip.ParseAddressValue(strings.TrimSpace(entry), &u, &params); err == nil && uriNumber(&u) != "" {
			return u, true
		}
	}
	return sip.Uri{}, false
}

// cutAddress splits a header value at the first comma outside quotes and
// angle brackets.
func cutAddress(v string) (entry, rest string) {
	quoted, bracket := false, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' && (i == 0 || v[i-1] != '\\'):
			quoted = !quoted
		case quoted:
		case c == '<':
			bracket = true
		case c == '>':
			bracket = false
		case c == ',' && !bracket:
			return v[:i], v[i+1:]
		}
	}
	return v, ""
}

// withheld reports whether a caller hid the number: Privacy: id
// (RFC 3325), no user part, an anonymousHost URI, or one of the usual
// anonymous markers.
func withheld(user string, anonHost bool, privacy string) bool {
	if user == "" || anonHost {
		return true
	}
	for _, w := range [...]string{"anonymous", "restricted", "unavailable", "unknown", "private", "withheld"} {
		if strings.EqualFold(user, w) {
			return true
		}
	}
	for privacy != "" {
		var tok string
		tok, privacy, _ = strings.Cut(privacy, ";")
		if strings.EqualFold(strings.TrimSpace(tok), "id") {
			return true
		}
	}
	return false
}

// anonymousDecision answers a withheld caller when the resolver has no
// cached answer for the tenant: nothing can be found in a CRM without a
// number, so the call falls back at once without a lookup.
func anonymousDecision(q telephony.RouteQuery) telephony.Decision {
	return telephony.Decision{
		Outcome:  telephony.OutcomeFallback,
		Fallback: telephony.FallbackNotFound,
		Reason:   "caller withheld their number",
		TenantID: q.TenantID,
		DID:      q.DID,
		Cache:    telephony.CacheMiss,
	}
}
