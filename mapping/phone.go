package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalidPhone is wrapped by every error E164 returns; the message after it
// says what is wrong with the input.
var ErrInvalidPhone = errors.New("mapping: invalid phone number")

// E164 returns raw as an E.164 number ("+380671234567").
//
// raw may carry visual separators (spaces, dashes, dots, slashes, parentheses),
// a leading "+", the "00" international prefix or the region's own one (810 in
// RU, 011 in US), a national number with its trunk prefix ("067 123 45 67" in
// UA, "8 (912) 345-67-89" in RU or KZ), a tel: URI (its phone-context is used
// when it is a "+<country code>") or a sip:/sips: URI whose user part is a
// number ("sip:+380671234567@pbx.example;user=phone"). Letters, extensions
// and numbers that are not valid for their country are refused.
//
// defaultRegion is an ISO 3166-1 alpha-2 code ("UA", "RU", "US") used for
// numbers written without a country code; it may be empty when raw is
// international.
func E164(raw, defaultRegion string) (string, error) {
	s, region, err := phoneDigits(raw, strings.ToUpper(strings.TrimSpace(defaultRegion)))
	if err != nil {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidPhone, raw, err)
	}
	international := strings.HasPrefix(s, "+")
	if !international {
		if region == "" {
			return "", fmt.Errorf("%w %q: no country code and no default region", ErrInvalidPhone, raw)
		}
		if phonenumbers.GetCountryCodeForRegion(region) == 0 {
			return "", fmt.Errorf("%w %q: unknown region %q", ErrInvalidPhone, raw, region)
		}
	}
	num, perr := phonenumbers.Parse(s, region)
	if perr != nil {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidPhone, raw, parseReason(perr, international, region))
	}
	if !phonenumbers.IsValidNumber(num) {
		if international {
			return "", fmt.Errorf("%w %q: invalid number for country code +%d", ErrInvalidPhone, raw, num.GetCountryCode())
		}
		return "", fmt.Errorf("%w %q: invalid number for region %s", ErrInvalidPhone, raw, region)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// phoneDigits strips URI syntax and separators from raw and returns the bare
// number ("+" and digits, or national digits) and the region to parse it in.
func phoneDigits(raw, region string) (string, string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", "", errors.New("empty")
	}
	if i, j := strings.IndexByte(s, '<'), strings.LastIndexByte(s, '>'); i >= 0 && j > i {
		s = strings.TrimSpace(s[i+1 : j]) // `"Bob" <sip:…>` as found in SIP headers
	}
	switch scheme, rest, _ := strings.Cut(s, ":"); strings.ToLower(scheme) {
	case "tel":
		number, params, _ := strings.Cut(rest, ";")
		s = number
		if ctx := phoneContext(params); ctx != "" && !strings.HasPrefix(strings.TrimSpace(number), "+") {
			region = ctx
		}
	case "sip", "sips":
		user, _, ok := strings.Cut(rest, "@")
		if !ok || user == "" {
			return "", "", fmt.Errorf("%s URI has no user part", strings.ToLower(scheme))
		}
		user, _, _ = strings.Cut(user, ";") // telephone-subscriber parameters
		if !looksNumeric(user) {
			return "", "", fmt.Errorf("%s URI user %q is not a phone number", strings.ToLower(scheme), user)
		}
		s = user
	}
	var b strings.Builder
	for i, r := range strings.TrimSpace(s) {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r == '+':
			return "", "", errors.New(`"+" only allowed at the start`)
		case isPhoneSeparator(r):
		case unicode.IsLetter(r):
			return "", "", errors.New("not a phone number (contains letters)")
		default:
			return "", "", fmt.Errorf("not a phone number (unexpected %q)", r)
		}
	}
	d := b.String()
	if d == "" || d == "+" {
		return "", "", errors.New("not a phone number (no digits)")
	}
	if strings.HasPrefix(d, "00") {
		d = "+" + d[2:] // "00" is the international prefix almost everywhere; phonenumbers only knows each region's own
	}
	return d, region, nil
}

// phoneContext returns the region of a tel: URI's phone-context parameter
// when it is a global number prefix ("+380"), or "".
func phoneContext(params string) string {
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "phone-context") || !strings.HasPrefix(value, "+") {
			continue
		}
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, value)
		// Country codes are prefix-free, so the first known one is the one.
		for n := 1; n <= 3 && n <= len(digits); n++ {
			cc, _ := strconv.Atoi(digits[:n])
			if r := phonenumbers.GetRegionCodeForCountryCode(cc); r != "ZZ" && r != "" {
				return r
			}
		}
	}
	return ""
}

func isPhoneSeparator(r rune) bool {
	switch r {
	case '-', '.', '/', '(', ')':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r)
}

// looksNumeric reports whether s has a digit and nothing but digits, "+" and
// separators, as a SIP user part that is a phone number does.
func looksNumeric(s string) bool {
	digits := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits = true
		case r == '+' || isPhoneSeparator(r):
		default:
			return false
		}
	}
	return digits
}

func parseReason(err error, international bool, region string) string {
	switch {
	case errors.Is(err, phonenumbers.ErrInvalidCountryCode):
		return "unknown country code"
	case errors.Is(err, phonenumbers.ErrTooShortNSN), errors.Is(err, phonenumbers.ErrTooShortAfterIDD):
		return "too short"
	case errors.Is(err, phonenumbers.ErrNumTooLong):
		return "too long"
	case !international:
		return "invalid number for region " + region
	}
	return "not a phone number"
}

// anonymousCallers are caller IDs PBXes and carriers send for withheld
// numbers, lowercased with spaces, dots, dashes and underscores removed.
var anonymousCallers = map[string]bool{
	"anonymous": true, "anonymouscaller": true, "anonym": true, "unknown": true,
	"unknowncaller": true, "unknownnumber": true, "restricted": true, "private": true,
	"privatenumber": true, "withheld": true, "withheldnumber": true, "unavailable": true,
	"notavailable": true, "blocked": true, "calleridblocked": true, "hidden": true,
	"nocallerid": true, "noclid": true,
	"аноним": true, "анонимный": true, "неизвестный": true, "неизвестно": true,
	"скрыт": true, "скрытый": true, "скрытыйномер": true, "номерскрыт": true,
}

// IsAnonymous reports whether raw is a withheld or unknown caller ID rather
// than a number: empty, "anonymous", "Unknown", "restricted", "private",
// "withheld" and the like, alone or as the user part of a SIP URI, and any
// URI in the anonymous.invalid domain (RFC 3323). Unparseable numbers that
// are not one of these are not anonymous; E164 reports them.
func IsAnonymous(raw string) bool {
	s := strings.ToLower(strings.TrimSpace(raw))
	if i, j := strings.IndexByte(s, '<'), strings.LastIndexByte(s, '>'); i >= 0 && j > i {
		s = strings.TrimSpace(s[i+1 : j])
	}
	if scheme, rest, ok := strings.Cut(s, ":"); ok && (scheme == "sip" || scheme == "sips" || scheme == "tel") {
		s = rest
	}
	user, host, _ := strings.Cut(s, "@")
	host, _, _ = strings.Cut(host, ";")
	host, _, _ = strings.Cut(host, ":")
	if host == "anonymous.invalid" {
		return true
	}
	user, _, _ = strings.Cut(user, ";")
	compact := strings.Map(func(r rune) rune {
		if r == ' ' || r == '.' || r == '-' || r == '_' || r == '"' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, user)
	return compact == "" || anonymousCallers[compact]
}

// NationalDigits returns the national significant number of an E.164 number,
// the digits without country code and trunk prefix ("+380671234567" →
// "671234567", "+79123456789" → "9123456789"), for CRM searches that store
// numbers without a country code. It returns "" when e164 does not parse.
func NationalDigits(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetNationalSignificantNumber(num)
}
