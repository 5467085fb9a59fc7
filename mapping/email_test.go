package mapping

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeEmail(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "lowercase", in: "Ivan.Petrov@Example.COM", want: "ivan.petrov@example.com"},
		{name: "trim", in: "  ivan@example.com \t", want: "ivan@example.com"},
		{name: "plus tag", in: "ivan+crm@example.com", want: "ivan+crm@example.com"},
		{name: "subdomain", in: "a@mail.corp.example.org", want: "a@mail.corp.example.org"},
		{name: "ru is valid as an email", in: "a@mail.ru", want: "a@mail.ru"},
		{name: "IDN", in: "Иван@Пример.РФ", want: "иван@пример.рф"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in)
			if err != nil {
				t.Fatalf("NormalizeEmail(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeEmail_Errors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantMsg string
	}{
		{name: "empty", in: "  ", wantMsg: "mapping: invalid email: empty"},
		{name: "no at", in: "ivan.example.com", wantMsg: `missing "@"`},
		{name: "no local part", in: "@example.com", wantMsg: "empty local part"},
		{name: "no domain", in: "ivan@", wantMsg: "empty domain"},
		{name: "two addresses", in: "a@example.com, b@example.com", wantMsg: "more than one address"},
		{name: "display name", in: "Ivan <ivan@example.com>", wantMsg: "without display name"},
		{name: "angle brackets", in: "<ivan@example.com>", wantMsg: "without display name or brackets"},
		{name: "space inside", in: "ivan petrov@example.com", wantMsg: `"ivan petrov@example.com": contains spaces`},
		{name: "dotless domain", in: "ivan@localhost", wantMsg: `domain "localhost" is not a full domain name`},
		{name: "trailing dot", in: "ivan@example.com.", wantMsg: "not a full domain name"},
		{name: "double dot in domain", in: "ivan@example..com", wantMsg: `domain "example..com" is not a full domain name`},
		{name: "bad local part", in: "iv..an@example.com", wantMsg: "not a valid address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeEmail(tt.in)
			if err == nil {
				t.Fatalf("NormalizeEmail(%q) = %q, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalidEmail) {
				t.Errorf("error %v does not wrap ErrInvalidEmail", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestIsRUDomain(t *testing.T) {
	tests := []struct {
		name  string
		email string
		want  bool
	}{
		{name: "mail.ru", email: "a@mail.ru", want: true},
		{name: "uppercase", email: "a@x.RU", want: true},
		{name: "subdomain", email: "a@corp.yandex.ru", want: true},
		{name: "trailing dot", email: "a@mail.ru.", want: true},
		{name: "bare ru", email: "a@ru", want: true},
		{name: "spaces", email: " a@mail.ru ", want: true},
		{name: "ru.com", email: "a@ru.com", want: false},
		{name: "rus", email: "a@example.rus", want: false},
		{name: "ru in local part", email: "ru@example.com", want: false},
		{name: "dot ru in local part", email: "a.ru@example.com", want: false},
		{name: "ending in ru without dot", email: "a@guru", want: false},
		{name: "not an email", email: "mail.ru", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsRUDomain(tt.email); got != tt.want {
				t.Errorf("IsRUDomain(%q) = %v, want %v", tt.email, got, tt.want)
			}
		})
	}
}
