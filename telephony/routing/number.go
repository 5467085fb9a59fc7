package routing

import (
	"slices"
	"strings"

	"github.com/crmsync/crmsync/mapping"
)

// anonymousCaller is what siprouter puts in RouteQuery.Caller for a
// withheld number.
const anonymousCaller = "anonymous"

// e164Digits reads raw when it is already written as E.164 ("+" and 8 to
// 15 digits, the first not 0) and returns the digits as a number. Such
// callers skip normalisation on the cached path (the PBX almost always
// sends them so); mapping.E164 still validates them once, when Resolve
// looks them up, and an invalid one is cached as such.
func e164Digits(raw string) (uint64, bool) {
	if len(raw) < 9 || len(raw) > 16 || raw[0] != '+' {
		return 0, false
	}
	return canonicalUint(raw[1:]) // no leading 0: E.164 country codes start at 1
}

// plainE164 reports whether raw is written as E.164.
func plainE164(raw string) bool {
	_, ok := e164Digits(raw)
	return ok
}

// anonymous reports whether raw is a withheld caller ID.
func anonymous(raw string) bool {
	if raw == anonymousCaller || raw == "" {
		return true
	}
	if plainE164(raw) {
		return false
	}
	return mapping.IsAnonymous(raw)
}

// didCandidates returns the E.164 forms a raw called number may stand for,
// most likely first: as written (with the resolver's default region for
// national formats), and digits-only input read as E.164 without its "+"
// (how many PBXes put a DID in the Request-URI).
func didCandidates(raw, region string) []string {
	var out []string
	add := func(n string, err error) {
		if err == nil && n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	add(mapping.E164(raw, region))
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, userPart(raw))
	if len(digits) >= 8 && !strings.HasPrefix(strings.TrimSpace(userPart(raw)), "+") {
		add(mapping.E164("+"+digits, ""))
	}
	return out
}

// userPart strips a sip:/sips:/tel: URI down to its user part.
func userPart(raw string) string {
	s := strings.TrimSpace(raw)
	if i := strings.IndexByte(s, ':'); i > 0 {
		switch strings.ToLower(s[:i]) {
		case "sip", "sips", "tel":
			s = s[i+1:]
		}
	}
	if i := strings.IndexAny(s, "@;"); i >= 0 {
		s = s[:i]
	}
	return s
}
