package mapping

import (
	"errors"
	"strings"
	"testing"
)

func TestValidExtension(t *testing.T) {
	tests := []struct {
		name      string
		ext       string
		emergency []string
		wantMsg   string // "" means valid
	}{
		{name: "two digits", ext: "10", emergency: DefaultEmergencyNumbers},
		{name: "three digits", ext: "105", emergency: DefaultEmergencyNumbers},
		{name: "six digits", ext: "123456", emergency: DefaultEmergencyNumbers},
		{name: "leading zero", ext: "0101", emergency: DefaultEmergencyNumbers},
		{name: "emergency allowed when not listed", ext: "112", emergency: nil},
		{name: "empty", ext: "", emergency: DefaultEmergencyNumbers, wantMsg: "mapping: invalid extension: empty"},
		{name: "letters", ext: "10a", emergency: DefaultEmergencyNumbers, wantMsg: `"10a": digits only`},
		{name: "space", ext: "1 0", emergency: DefaultEmergencyNumbers, wantMsg: "digits only"},
		{name: "plus", ext: "+101", emergency: DefaultEmergencyNumbers, wantMsg: "digits only"},
		{name: "one digit", ext: "7", emergency: DefaultEmergencyNumbers, wantMsg: `"7": must be 2 to 6 digits`},
		{name: "seven digits", ext: "1234567", emergency: DefaultEmergencyNumbers, wantMsg: "must be 2 to 6 digits"},
		{name: "112", ext: "112", emergency: DefaultEmergencyNumbers, wantMsg: `"112": is an emergency number`},
		{name: "911", ext: "911", emergency: DefaultEmergencyNumbers, wantMsg: "emergency"},
		{name: "103", ext: "103", emergency: DefaultEmergencyNumbers, wantMsg: "emergency"},
		{name: "000", ext: "000", emergency: DefaultEmergencyNumbers, wantMsg: "emergency"},
		{name: "custom list", ext: "15", emergency: []string{"15"}, wantMsg: "emergency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidExtension(tt.ext, tt.emergency)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("ValidExtension(%q) error: %v", tt.ext, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidExtension(%q) = nil, want an error saying %q", tt.ext, tt.wantMsg)
			}
			if !errors.Is(err, ErrInvalidExtension) {
				t.Errorf("error %v does not wrap ErrInvalidExtension", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestNextFreeExtension(t *testing.T) {
	taken := func(exts ...string) map[string]bool {
		m := map[string]bool{}
		for _, e := range exts {
			m[e] = true
		}
		return m
	}
	tests := []struct {
		name      string
		taken     map[string]bool
		emergency []string
		lo, hi    int
		want      string
		wantOK    bool
	}{
		{name: "first in range", taken: nil, emergency: DefaultEmergencyNumbers, lo: 100, hi: 999, want: "100", wantOK: true},
		{name: "skips taken", taken: taken("100"), emergency: DefaultEmergencyNumbers, lo: 100, hi: 999, want: "105", wantOK: true},
		{name: "skips emergency 101-104", taken: taken("100"), emergency: DefaultEmergencyNumbers, lo: 100, hi: 110, want: "105", wantOK: true},
		{name: "skips 110 and 112", taken: taken("111"), emergency: DefaultEmergencyNumbers, lo: 110, hi: 113, want: "113", wantOK: true},
		{name: "no emergency list", taken: nil, emergency: nil, lo: 112, hi: 112, want: "112", wantOK: true},
		{name: "one-digit numbers skipped", taken: nil, emergency: nil, lo: 0, hi: 20, want: "10", wantOK: true},
		{name: "full", taken: taken("200", "201"), emergency: nil, lo: 200, hi: 201, wantOK: false},
		{name: "only emergency left", taken: taken("911"), emergency: DefaultEmergencyNumbers, lo: 911, hi: 911, wantOK: false},
		{name: "empty range", taken: nil, emergency: nil, lo: 300, hi: 200, wantOK: false},
		{name: "beyond six digits", taken: nil, emergency: nil, lo: 999999, hi: 10000000, want: "999999", wantOK: true},
		{name: "only seven digits", taken: nil, emergency: nil, lo: 1000000, hi: 2000000, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NextFreeExtension(tt.taken, tt.emergency, tt.lo, tt.hi)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("NextFreeExtension = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
			if ok {
				if err := ValidExtension(got, tt.emergency); err != nil {
					t.Errorf("returned extension is not valid: %v", err)
				}
			}
		})
	}
}
