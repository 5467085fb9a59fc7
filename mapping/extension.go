package mapping

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrInvalidExtension is wrapped by every error ValidExtension returns.
var ErrInvalidExtension = errors.New("mapping: invalid extension")

// Extension length limits, in digits.
const (
	MinExtensionDigits = 2
	MaxExtensionDigits = 6
)

// DefaultEmergencyNumbers are the numbers no extension may take unless a
// tenant configures its own list: 112 (EU and most of the world), 911 (North
// America), 999 (UK), 000 (Australia), 101–104 (Russia, Ukraine and the CIS),
// 110 (Germany, China, Japan), 118 and 119 (Italy, Japan, Korea). Callers
// must not modify it; copy it to extend it.
var DefaultEmergencyNumbers = []string{"000", "101", "102", "103", "104", "110", "112", "118", "119", "911", "999"}

// ValidExtension checks that ext is an extension an employee or department
// may have: digits only, MinExtensionDigits to MaxExtensionDigits long, and
// not one of emergency. The error names the rule that failed.
func ValidExtension(ext string, emergency []string) error {
	if ext == "" {
		return fmt.Errorf("%w: empty", ErrInvalidExtension)
	}
	for _, r := range ext {
		if r < '0' || r > '9' {
			return fmt.Errorf("%w %q: digits only", ErrInvalidExtension, ext)
		}
	}
	if len(ext) < MinExtensionDigits || len(ext) > MaxExtensionDigits {
		return fmt.Errorf("%w %q: must be %d to %d digits", ErrInvalidExtension, ext, MinExtensionDigits, MaxExtensionDigits)
	}
	for _, e := range emergency {
		if ext == e {
			return fmt.Errorf("%w %q: is an emergency number", ErrInvalidExtension, ext)
		}
	}
	return nil
}

// NextFreeExtension returns the smallest number from lo to hi (inclusive)
// that is a valid extension (see ValidExtension), is not in taken and is not
// an emergency number, and false when there is none. taken holds the
// extensions already used by employees and departments.
func NextFreeExtension(taken map[string]bool, emergency []string, lo, hi int) (string, bool) {
	blocked := make(map[string]bool, len(emergency))
	for _, e := range emergency {
		blocked[e] = true
	}
	for n := max(lo, 0); n <= hi; n++ {
		s := strconv.Itoa(n)
		if len(s) < MinExtensionDigits {
			continue
		}
		if len(s) > MaxExtensionDigits {
			break
		}
		if !taken[s] && !blocked[s] {
			return s, true
		}
	}
	return "", false
}
