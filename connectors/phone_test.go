package connectors_test

import (
	"testing"

	"github.com/crmsync/crmsync/connectors"
)

func TestSamePhone(t *testing.T) {
	tests := []struct {
		name, raw, e164 string
		want            bool
	}{
		{"E164", "+79161234567", "+79161234567", true},
		{"Formatted", "+7 (916) 123-45-67", "+79161234567", true},
		{"NationalTrunk8", "8 916 123 45 67", "+79161234567", true},
		{"NoPlus", "79161234567", "+79161234567", true},
		{"NationalOnly", "916 123-45-67", "+79161234567", true},
		{"ContainsDigits", "+49 79161234567", "+79161234567", false},
		{"ExtraDigit", "+7 916 123-45-678", "+79161234567", false},
		{"LastDigit", "+7 916 123-45-68", "+79161234567", false},
		{"OtherCountry", "+1 916 123 4567", "+79161234567", false},
		{"Empty", "", "+79161234567", false},
		{"Garbage", "call me", "+79161234567", false},
		{"US", "(415) 555-0132", "+14155550132", true},
		{"USWithOne", "1-415-555-0132", "+14155550132", true},
		{"BadE164SameDigits", "12345", "12345", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := connectors.SamePhone(tt.raw, tt.e164); got != tt.want {
				t.Errorf("SamePhone(%q, %q) = %v, want %v", tt.raw, tt.e164, got, tt.want)
			}
		})
	}
}

func TestNationalDigits(t *testing.T) {
	for in, want := range map[string]string{
		"+79161234567": "9161234567",
		"+14155550132": "4155550132",
		"garbage 12":   "12",
	} {
		if got := connectors.NationalDigits(in); got != want {
			t.Errorf("NationalDigits(%q) = %q, want %q", in, got, want)
		}
	}
	if got := connectors.PhoneDigits("+7 (916) 123-45-67"); got != "79161234567" {
		t.Errorf("PhoneDigits = %q", got)
	}
}
