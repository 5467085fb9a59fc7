package mapping

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// ErrInvalidContact is wrapped by every error Contact returns. Errors about
// phone numbers also wrap ErrInvalidPhone and read like E164's.
var ErrInvalidContact = errors.New("mapping: invalid contact")

// ContactKind says what an employee contact is.
type ContactKind string

// Contact kinds.
const (
	ContactPhone ContactKind = "phone" // an E.164 number
	ContactSIP   ContactKind = "sip"   // a sip: or sips: URI
)

// ContactValue is a normalised employee contact: a phone number in E.164 or
// a SIP URI.
type ContactValue struct {
	Kind  ContactKind
	Value string
}

// Contact normalises an employee contact (main or other contacts, mobile).
//
// A value starting with "sip:" or "sips:", or one of the form user@host, is a
// SIP URI: it must have a non-empty user and host, no password, no spaces,
// and a valid port if any. The scheme and host are lowercased; the user part
// and any parameters are kept as written. A bare user@host gets "sip:".
// Anything else (including tel: URIs) is a phone number, normalised with
// E164 in region.
func Contact(raw, region string) (ContactValue, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return ContactValue{}, fmt.Errorf("%w: empty", ErrInvalidContact)
	}
	scheme, _, _ := strings.Cut(s, ":")
	scheme = strings.ToLower(scheme)
	if scheme == "sip" || scheme == "sips" || (strings.Contains(s, "@") && scheme != "tel") {
		uri, err := sipURI(s)
		if err != nil {
			return ContactValue{}, fmt.Errorf("%w: SIP URI %q: %s", ErrInvalidContact, raw, err)
		}
		return ContactValue{Kind: ContactSIP, Value: uri}, nil
	}
	e164, err := E164(s, region)
	if err != nil {
		return ContactValue{}, phoneContactError{err}
	}
	return ContactValue{Kind: ContactPhone, Value: e164}, nil
}

// phoneContactError keeps E164's message and matches both ErrInvalidContact
// and ErrInvalidPhone.
type phoneContactError struct{ err error }

func (e phoneContactError) Error() string   { return e.err.Error() }
func (e phoneContactError) Unwrap() []error { return []error{ErrInvalidContact, e.err} }

// sipURI validates and normalises sip:user@host[:port][;params][?headers].
func sipURI(s string) (string, error) {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", errors.New("contains spaces")
		}
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || strings.Contains(scheme, "@") {
		scheme, rest = "sip", s // bare user@host
	}
	scheme = strings.ToLower(scheme)
	if scheme != "sip" && scheme != "sips" {
		return "", fmt.Errorf("scheme %q is not sip or sips", scheme)
	}
	user, hostPart, ok := strings.Cut(rest, "@")
	if !ok {
		return "", errors.New("missing user@host")
	}
	if user == "" {
		return "", errors.New("empty user part")
	}
	if strings.Contains(user, ":") {
		return "", errors.New("must not contain a password")
	}
	if strings.Contains(hostPart, "@") {
		return "", errors.New(`more than one "@"`)
	}
	end := strings.IndexAny(hostPart, ";?")
	if end < 0 {
		end = len(hostPart)
	}
	hostPort, tail := hostPart[:end], hostPart[end:]
	host, port, err := splitHostPort(hostPort)
	if err != nil {
		return "", err
	}
	host = strings.ToLower(host)
	if err := checkHost(host); err != nil {
		return "", err
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("invalid port %q", port)
		}
		host += ":" + port
	}
	return scheme + ":" + user + "@" + host + tail, nil
}

func splitHostPort(hp string) (host, port string, err error) {
	if strings.HasPrefix(hp, "[") { // IPv6 reference
		end := strings.IndexByte(hp, ']')
		if end < 0 {
			return "", "", errors.New("unclosed IPv6 address")
		}
		host, rest := hp[:end+1], hp[end+1:]
		if rest == "" {
			return host, "", nil
		}
		if !strings.HasPrefix(rest, ":") {
			return "", "", fmt.Errorf("unexpected %q after host", rest)
		}
		return host, rest[1:], nil
	}
	host, port, _ = strings.Cut(hp, ":")
	return host, port, nil
}

func checkHost(host string) error {
	if host == "" {
		return errors.New("empty host")
	}
	if strings.HasPrefix(host, "[") {
		for _, r := range host[1 : len(host)-1] {
			if !(r == ':' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'f')) {
				return fmt.Errorf("invalid IPv6 host %q", host)
			}
		}
		return nil
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return fmt.Errorf("invalid host %q", host)
		}
		for _, r := range label {
			if !(r == '-' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z')) {
				return fmt.Errorf("invalid host %q", host)
			}
		}
	}
	return nil
}
