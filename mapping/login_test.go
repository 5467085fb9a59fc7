package mapping

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLogin(t *testing.T) {
	tests := []struct {
		name     string
		prefix   string
		fullName string
		want     string
	}{
		{name: "cyrillic", prefix: "19079", fullName: "Иван Петров", want: "19079_ivan"},
		{name: "latin", prefix: "19079", fullName: "  IVAN   Petrov ", want: "19079_ivan"},
		{name: "no prefix", prefix: "", fullName: "Иван Петров", want: "ivan"},
		{name: "yu and short i", prefix: "7", fullName: "Юлий Цезарь", want: "7_yulii"},
		{name: "ukrainian", prefix: "42", fullName: "Олексій Шевченко", want: "42_oleksii"},
		{name: "apostrophe and accents dropped", prefix: "1", fullName: "D'Artagnan", want: "1_dartagnan"},
		{name: "hyphenated first name", prefix: "1", fullName: "Анна-Мария Иванова", want: "1_annamariia"},
		{name: "accents", prefix: "1", fullName: "José García", want: "1_jose"},
		{name: "prefix sanitised", prefix: "Acme Co", fullName: "Ivan", want: "acmeco_ivan"},
		{name: "nothing left", prefix: "19079", fullName: "李小龍", want: "19079_user"},
		{name: "empty name", prefix: "", fullName: "", want: "user"},
		{name: "leading symbol word skipped", prefix: "5", fullName: "— Иван", want: "5_ivan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Login(tt.prefix, tt.fullName); got != tt.want {
				t.Errorf("Login(%q, %q) = %q, want %q", tt.prefix, tt.fullName, got, tt.want)
			}
		})
	}
}

func TestLoginCandidates(t *testing.T) {
	numbered := func(prefix, first string) []string {
		var out []string
		for n := 2; n <= MaxLoginSuffix; n++ {
			out = append(out, fmt.Sprintf("%s%s%d", prefix, first, n))
		}
		return out
	}
	tests := []struct {
		name     string
		prefix   string
		fullName string
		want     []string
	}{
		{name: "two words", prefix: "19079", fullName: "Иван Петров",
			want: append([]string{"19079_ivan", "19079_ivan_petrov", "19079_ipetrov"}, numbered("19079_", "ivan")...)},
		{name: "patronymic skipped", prefix: "19079", fullName: "Иван Иванович Петров",
			want: append([]string{"19079_ivan", "19079_ivan_petrov", "19079_ipetrov"}, numbered("19079_", "ivan")...)},
		{name: "one word", prefix: "", fullName: "Madonna",
			want: append([]string{"madonna"}, numbered("", "madonna")...)},
		{name: "no name", prefix: "9", fullName: "  ",
			want: append([]string{"9_user"}, numbered("9_", "user")...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LoginCandidates(tt.prefix, tt.fullName)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("LoginCandidates(%q, %q) mismatch (-want +got):\n%s", tt.prefix, tt.fullName, diff)
			}
			if got[0] != Login(tt.prefix, tt.fullName) {
				t.Errorf("first candidate %q != Login %q", got[0], Login(tt.prefix, tt.fullName))
			}
		})
	}
}

func TestLoginCandidates_Unique(t *testing.T) {
	// "Ivan Ivan": first_last and the initial form must not repeat anything.
	seen := map[string]bool{}
	for _, c := range LoginCandidates("1", "Ivan Ivan") {
		if seen[c] {
			t.Errorf("duplicate candidate %q", c)
		}
		seen[c] = true
	}
}
