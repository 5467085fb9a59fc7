package siprouter

import (
	"bytes"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/telephony"
)

func TestContactURI(t *testing.T) {
	tests := []struct{ name, contact, want string }{
		{"E164", "+380671110001", "sip:+380671110001@pbx.example.com;user=phone"},
		{"Extension", "101", "sip:101@pbx.example.com;user=phone"},
		{"SIPURI", "sip:alice@pbx.example.com;transport=tcp", "sip:alice@pbx.example.com;transport=tcp"},
		{"SIPSURI", "sips:alice@pbx.example.com", "sips:alice@pbx.example.com"},
		{"TelURI", "tel:+380671110001", "tel:+380671110001"},
		{"UpperCaseScheme", "SIP:alice@pbx.example.com", "SIP:alice@pbx.example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := contactURI(tt.contact, "pbx.example.com"); got != tt.want {
				t.Errorf("contactURI(%q) = %q, want %q", tt.contact, got, tt.want)
			}
		})
	}
}

func TestUsableContact(t *testing.T) {
	for c, want := range map[string]bool{
		"+380671110001":         true,
		"sip:alice@example.com": true,
		"":                      false,
		"sip:a b@example.com":   false,
		"sip:a@b>\r\nX-Evil: 1": false,
		`sip:"a"@b`:             false,
		"sip:a@b,sip:c@d":       false,
	} {
		if got := usableContact(c); got != want {
			t.Errorf("usableContact(%q) = %v, want %v", c, got, want)
		}
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		name   string
		d      telephony.Decision
		code   int
		reason string
	}{
		{"Routed", routed("+380671110001"), 302, "Moved Temporarily"},
		{"RedirectToDepartment", telephony.Decision{Outcome: telephony.OutcomeRedirect, Contacts: []string{"sip:sales@x"}}, 302, "Moved Temporarily"},
		{"RoutedWithoutContacts", routed(), 404, "Not Found"},
		{"RoutedWithBadContactsOnly", routed("a b"), 480, "Temporarily Unavailable"},
		{"NotFound", notFound("x"), 404, "Not Found"},
		{"Unavailable", unavailable("x"), 480, "Temporarily Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason := status(tt.d)
			if code != tt.code || reason != tt.reason {
				t.Errorf("status = %d %q, want %d %q", code, reason, tt.code, tt.reason)
			}
		})
	}
}

func TestWriteReason(t *testing.T) {
	var b bytes.Buffer
	writeReason(&b, "line one\r\nX-Injected: yes")
	if got, want := b.String(), "line one  X-Injected: yes"; got != want {
		t.Errorf("writeReason = %q, want %q", got, want)
	}
	b.Reset()
	writeReason(&b, strings.Repeat("x", 500))
	if b.Len() != maxReason {
		t.Errorf("long reason written as %d bytes, want %d", b.Len(), maxReason)
	}
}

// TestQValues: the first contact gets 1.0, each next one 0.1 less, down to
// 0.1 for the tenth and later.
func TestQValues(t *testing.T) {
	h := MustHandlerServer(t, tableResolver(map[string]telephony.Decision{
		knownCaller: routed("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11"),
	}), nil)
	h.s.handle(request{}.MustParse(t))
	var qs []string
	for _, c := range headerValues(h.responses()[0], "Contact") {
		qs = append(qs, c[strings.LastIndex(c, "q=")+2:])
	}
	want := "1.0 0.9 0.8 0.7 0.6 0.5 0.4 0.3 0.2 0.1 0.1"
	if got := strings.Join(qs, " "); got != want {
		t.Errorf("q-values = %s, want %s", got, want)
	}
}
