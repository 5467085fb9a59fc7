package mapping

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestContact(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		region string
		want   ContactValue
	}{
		{name: "UA mobile", raw: "067 123 45 67", region: "UA", want: ContactValue{Kind: ContactPhone, Value: "+380671234567"}},
		{name: "international", raw: "+7 912 345-67-89", region: "UA", want: ContactValue{Kind: ContactPhone, Value: "+79123456789"}},
		{name: "tel URI is a phone", raw: "tel:+380671234567", region: "", want: ContactValue{Kind: ContactPhone, Value: "+380671234567"}},
		{name: "sip lowercased scheme and host, user case kept", raw: "SIP:Ivan.Petrov@PBX.Example.COM", region: "UA", want: ContactValue{Kind: ContactSIP, Value: "sip:Ivan.Petrov@pbx.example.com"}},
		{name: "sips with port and params", raw: "sips:101@pbx.example:5061;transport=tls", region: "UA", want: ContactValue{Kind: ContactSIP, Value: "sips:101@pbx.example:5061;transport=tls"}},
		{name: "sip with a number stays sip", raw: "sip:+380671234567@pbx.example;user=phone", region: "UA", want: ContactValue{Kind: ContactSIP, Value: "sip:+380671234567@pbx.example;user=phone"}},
		{name: "bare user@host gets sip:", raw: "  alice@Sip.Example.org ", region: "UA", want: ContactValue{Kind: ContactSIP, Value: "sip:alice@sip.example.org"}},
		{name: "IPv4 host", raw: "sip:102@10.0.0.5:5060", region: "", want: ContactValue{Kind: ContactSIP, Value: "sip:102@10.0.0.5:5060"}},
		{name: "IPv6 host", raw: "sip:102@[2001:DB8::1]:5060", region: "", want: ContactValue{Kind: ContactSIP, Value: "sip:102@[2001:db8::1]:5060"}},
		{name: "headers kept", raw: "sip:bob@example.com?subject=hi", region: "", want: ContactValue{Kind: ContactSIP, Value: "sip:bob@example.com?subject=hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Contact(tt.raw, tt.region)
			if err != nil {
				t.Fatalf("Contact(%q) error: %v", tt.raw, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Contact(%q) mismatch (-want +got):\n%s", tt.raw, diff)
			}
		})
	}
}

func TestContact_Errors(t *testing.T) {
	tests := []struct {
		name      string
		raw       string
		wantMsg   string
		wantPhone bool // also wraps ErrInvalidPhone
	}{
		{name: "empty", raw: " ", wantMsg: "mapping: invalid contact: empty"},
		{name: "not a number", raw: "call me", wantMsg: "not a phone number", wantPhone: true},
		{name: "invalid UA number", raw: "067 123", wantMsg: "invalid number for region UA", wantPhone: true},
		{name: "sip without host", raw: "sip:alice@", wantMsg: "empty host"},
		{name: "sip without user", raw: "sip:@pbx.example", wantMsg: "empty user part"},
		{name: "sip without at", raw: "sip:pbx.example", wantMsg: "missing user@host"},
		{name: "sip with space", raw: "sip:ivan petrov@pbx.example", wantMsg: "contains spaces"},
		{name: "sip with password", raw: "sip:alice:secret@pbx.example", wantMsg: "must not contain a password"},
		{name: "two at signs", raw: "sip:a@b@pbx.example", wantMsg: `more than one "@"`},
		{name: "bad host", raw: "sip:alice@pbx_example.com", wantMsg: `invalid host "pbx_example.com"`},
		{name: "empty label", raw: "sip:alice@pbx..example", wantMsg: "invalid host"},
		{name: "bad port", raw: "sip:alice@pbx.example:99999", wantMsg: `invalid port "99999"`},
		{name: "other scheme", raw: "http://alice@pbx.example", wantMsg: `scheme "http" is not sip or sips`},
		{name: "unclosed IPv6", raw: "sip:a@[2001:db8::1", wantMsg: "unclosed IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Contact(tt.raw, "UA")
			if err == nil {
				t.Fatalf("Contact(%q) = %+v, want an error", tt.raw, got)
			}
			if !errors.Is(err, ErrInvalidContact) {
				t.Errorf("error %v does not wrap ErrInvalidContact", err)
			}
			if errors.Is(err, ErrInvalidPhone) != tt.wantPhone {
				t.Errorf("errors.Is(%v, ErrInvalidPhone) = %v, want %v", err, !tt.wantPhone, tt.wantPhone)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}
