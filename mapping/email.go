package mapping

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
)

// ErrInvalidEmail is wrapped by every error NormalizeEmail returns.
var ErrInvalidEmail = errors.New("mapping: invalid email")

// NormalizeEmail returns s trimmed and lowercased after checking that it is
// one bare address (local@domain, as net/mail parses it): no display name,
// no angle brackets, no list, and a domain with at least one dot. Emails are
// compared case-insensitively everywhere in crmsync, so the lowercase form is
// the stored and matched one.
func NormalizeEmail(s string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(s))
	if e == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidEmail)
	}
	addr, err := mail.ParseAddress(e)
	if err != nil {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidEmail, s, emailReason(e, err))
	}
	if addr.Name != "" || addr.Address != e {
		return "", fmt.Errorf("%w %q: want a bare address like name@example.com, without display name or brackets", ErrInvalidEmail, s)
	}
	domain := e[strings.LastIndexByte(e, '@')+1:]
	if !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", fmt.Errorf("%w %q: domain %q is not a full domain name", ErrInvalidEmail, s, domain)
	}
	return e, nil
}

func emailReason(e string, err error) string {
	at := strings.LastIndexByte(e, '@')
	local, domain := e[:max(at, 0)], e[at+1:]
	switch {
	case at < 0:
		return `missing "@"`
	case strings.Count(e, "@") > 1 && strings.ContainsAny(e, ",;"):
		return "more than one address"
	case strings.ContainsFunc(e, unicode.IsSpace):
		return "contains spaces"
	case local == "":
		return "empty local part"
	case domain == "":
		return "empty domain"
	case strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, ".."):
		return fmt.Sprintf("domain %q is not a full domain name", domain)
	}
	return "not a valid address (" + strings.TrimPrefix(err.Error(), "mail: ") + ")"
}

// IsRUDomain reports whether email's domain is in the .ru top-level domain
// ("a@mail.ru", "a@x.RU", a trailing dot allowed), which employee emails may
// not use. "a@ru.com" and "a@example.rus" are not.
func IsRUDomain(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	domain := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(email[at+1:])), ".")
	return domain == "ru" || strings.HasSuffix(domain, ".ru")
}
