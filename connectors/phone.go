package connectors

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// PhoneDigits returns the ASCII digits of raw and nothing else.
func PhoneDigits(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c >= '0' && c <= '9' {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// NationalDigits returns the national significant number of e164
// ("+79161234567" → "9161234567"): the digits a CRM full-text search finds
// whether the number is stored as "+7 916…", "8 (916)…" or "916…". It falls
// back to PhoneDigits when e164 does not parse.
func NationalDigits(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return PhoneDigits(e164)
	}
	return phonenumbers.GetNationalSignificantNumber(num)
}

// SamePhone reports whether raw, a phone number as a CRM stores it, is the
// E.164 number e164. raw is read in e164's region, so "8 (916) 123-45-67"
// is +79161234567, while a number that merely contains the same digits
// ("+49 79161234567", "+7 916 123-45-678") is not. Connectors call it on
// every search hit, because CRM phone searches return near-misses.
func SamePhone(raw, e164 string) bool {
	want, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return raw != "" && PhoneDigits(raw) == PhoneDigits(e164)
	}
	region := phonenumbers.GetRegionCodeForNumber(want)
	if region == "" {
		region = phonenumbers.GetRegionCodeForCountryCode(int(want.GetCountryCode()))
	}
	got, err := phonenumbers.Parse(raw, region)
	if err != nil {
		return false
	}
	return got.GetCountryCode() == want.GetCountryCode() &&
		phonenumbers.GetNationalSignificantNumber(got) == phonenumbers.GetNationalSignificantNumber(want)
}

// AnyPhone reports whether any of raws is the E.164 number e164.
func AnyPhone(raws []string, e164 string) bool {
	for _, raw := range raws {
		if SamePhone(raw, e164) {
			return true
		}
	}
	return false
}
