package mapping

import (
	"errors"
	"strings"
	"testing"
)

func TestE164(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		region string
		want   string
	}{
		{name: "UA national with spaces", raw: "067 123 45 67", region: "UA", want: "+380671234567"},
		{name: "UA national with dashes and parens", raw: "(067) 123-45-67", region: "UA", want: "+380671234567"},
		{name: "UA international", raw: "+380 67 123 45 67", region: "UA", want: "+380671234567"},
		{name: "UA international without region", raw: "+380671234567", region: "", want: "+380671234567"},
		{name: "UA with 00", raw: "00380671234567", region: "UA", want: "+380671234567"},
		{name: "00 in a region whose own prefix differs", raw: "00 380 67 123 45 67", region: "RU", want: "+380671234567"},
		{name: "RU 8 prefix", raw: "8 (912) 345-67-89", region: "RU", want: "+79123456789"},
		{name: "RU +7 with dots", raw: "+7.912.345.67.89", region: "RU", want: "+79123456789"},
		{name: "RU 810 international prefix", raw: "810 380 67 123 45 67", region: "RU", want: "+380671234567"},
		{name: "KZ 8 prefix mobile", raw: "8 (912) 345-67-89", region: "KZ", want: "+79123456789"},
		{name: "KZ 8 prefix Almaty", raw: "8 727 258 12 34", region: "KZ", want: "+77272581234"},
		{name: "region lowercase", raw: "067 123 45 67", region: "ua", want: "+380671234567"},
		{name: "US national", raw: "(415) 555-2671", region: "US", want: "+14155552671"},
		{name: "US with 1", raw: "1-202-555-0143", region: "US", want: "+12025550143"},
		{name: "US 011 international prefix", raw: "011 49 30 123456", region: "US", want: "+4930123456"},
		{name: "DE national", raw: "030 123456", region: "DE", want: "+4930123456"},
		{name: "DE slash", raw: "030/123456", region: "DE", want: "+4930123456"},
		{name: "DE trunk zero in parens", raw: "+49 (0)30 123456", region: "DE", want: "+4930123456"},
		{name: "DE with 0049 from UA", raw: "0049 30 123456", region: "UA", want: "+4930123456"},
		{name: "surrounding spaces and nbsp", raw: "  +380\u00a067\u00a0123\u00a045\u00a067 ", region: "", want: "+380671234567"},
		{name: "en dash", raw: "067–123–45–67", region: "UA", want: "+380671234567"},
		{name: "tel URI global", raw: "tel:+380-67-123-45-67", region: "", want: "+380671234567"},
		{name: "tel URI with domain context", raw: "tel:+380671234567;phone-context=example.com", region: "RU", want: "+380671234567"},
		{name: "tel URI local with global context", raw: "tel:067-123-45-67;phone-context=+380", region: "RU", want: "+380671234567"},
		{name: "TEL URI uppercase", raw: "TEL:+79123456789", region: "", want: "+79123456789"},
		{name: "sip URI user=phone", raw: "sip:+380671234567@pbx.example;user=phone", region: "", want: "+380671234567"},
		{name: "sips URI national", raw: "sips:0671234567@pbx.example", region: "UA", want: "+380671234567"},
		{name: "sip URI in header form", raw: `"Ivan" <sip:+79123456789@10.0.0.1:5060>;tag=abc`, region: "", want: "+79123456789"},
		{name: "sip URI with user parameters", raw: "sip:+79123456789;isub=12@pbx.example", region: "", want: "+79123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := E164(tt.raw, tt.region)
			if err != nil {
				t.Fatalf("E164(%q, %q) error: %v", tt.raw, tt.region, err)
			}
			if got != tt.want {
				t.Errorf("E164(%q, %q) = %q, want %q", tt.raw, tt.region, got, tt.want)
			}
		})
	}
}

func TestE164_Errors(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		region  string
		wantMsg string // the error must contain it
	}{
		{name: "empty", raw: "", region: "UA", wantMsg: `"": empty`},
		{name: "blank", raw: "   ", region: "UA", wantMsg: "empty"},
		{name: "word", raw: "hello", region: "UA", wantMsg: "not a phone number (contains letters)"},
		{name: "vanity letters", raw: "1-800-FLOWERS", region: "US", wantMsg: "contains letters"},
		{name: "extension", raw: "+7 495 123-45-67 доб. 12", region: "RU", wantMsg: "contains letters"},
		{name: "symbols", raw: "067#1234567", region: "UA", wantMsg: `unexpected '#'`},
		{name: "plus inside", raw: "067+1234567", region: "UA", wantMsg: `"+" only allowed at the start`},
		{name: "only separators", raw: "+ ( ) -", region: "UA", wantMsg: "no digits"},
		{name: "too short for UA", raw: "12", region: "UA", wantMsg: "invalid number for region UA"},
		{name: "wrong UA operator code", raw: "011 123 45 67", region: "UA", wantMsg: "invalid number for region UA"},
		{name: "invalid international", raw: "+380 12", region: "", wantMsg: "invalid number for country code +380"},
		{name: "unknown country code", raw: "+999 123456789", region: "", wantMsg: "unknown country code"},
		{name: "national without region", raw: "0671234567", region: "", wantMsg: "no country code and no default region"},
		{name: "unknown region", raw: "0671234567", region: "XX", wantMsg: `unknown region "XX"`},
		{name: "too long", raw: "+380 67 123 45 67 89 01 23 45", region: "", wantMsg: "+380"},
		{name: "sip with name user", raw: "sip:alice@pbx.example", region: "UA", wantMsg: `sip URI user "alice" is not a phone number`},
		{name: "sip anonymous", raw: "sip:anonymous@anonymous.invalid", region: "UA", wantMsg: "not a phone number"},
		{name: "sip without user", raw: "sip:pbx.example", region: "UA", wantMsg: "sip URI has no user part"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := E164(tt.raw, tt.region)
			if err == nil {
				t.Fatalf("E164(%q, %q) = %q, want an error", tt.raw, tt.region, got)
			}
			if !errors.Is(err, ErrInvalidPhone) {
				t.Errorf("error %v does not wrap ErrInvalidPhone", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestIsAnonymous(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{name: "empty", raw: "", want: true},
		{name: "blank", raw: "  ", want: true},
		{name: "anonymous", raw: "anonymous", want: true},
		{name: "Anonymous capitalised", raw: "Anonymous", want: true},
		{name: "unknown", raw: "unknown", want: true},
		{name: "restricted", raw: "RESTRICTED", want: true},
		{name: "private", raw: "Private", want: true},
		{name: "private number", raw: "Private Number", want: true},
		{name: "withheld", raw: "withheld", want: true},
		{name: "unavailable", raw: "Unavailable", want: true},
		{name: "no caller id", raw: "No Caller-ID", want: true},
		{name: "russian hidden", raw: "Скрытый номер", want: true},
		{name: "RFC 3323 URI", raw: "sip:anonymous@anonymous.invalid", want: true},
		{name: "RFC 3323 header", raw: `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=1`, want: true},
		{name: "other user at anonymous.invalid", raw: "sip:x@anonymous.invalid", want: true},
		{name: "sip anonymous at a real host", raw: "sips:Anonymous@pbx.example", want: true},
		{name: "tel anonymous", raw: "tel:anonymous", want: true},
		{name: "number", raw: "+380671234567", want: false},
		{name: "sip number", raw: "sip:+380671234567@pbx.example", want: false},
		{name: "garbage is not anonymous", raw: "hello", want: false},
		{name: "sip user", raw: "sip:alice@pbx.example", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsAnonymous(tt.raw); got != tt.want {
				t.Errorf("IsAnonymous(%q) = %v, want %v", tt.raw, got, tt.want)
			}
		})
	}
}

func TestNationalDigits(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "UA", in: "+380671234567", want: "671234567"},
		{name: "RU", in: "+79123456789", want: "9123456789"},
		{name: "US", in: "+14155552671", want: "4155552671"},
		{name: "DE", in: "+4930123456", want: "30123456"},
		{name: "IT keeps leading zero", in: "+390612345678", want: "0612345678"},
		{name: "not E.164", in: "0671234567", want: ""},
		{name: "empty", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NationalDigits(tt.in); got != tt.want {
				t.Errorf("NationalDigits(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
