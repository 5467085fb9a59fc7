package mapping

import (
	"strconv"
	"strings"
)

// MaxLoginSuffix is the largest number LoginCandidates appends to a first
// name ("ivan2" … "ivan99").
const MaxLoginSuffix = 99

// fallbackLogin is used when a name has nothing left after transliteration
// (for example a name written only in a script Transliterate does not know).
const fallbackLogin = "user"

// Login returns the default login of an employee: prefix (the tenant's
// number), "_", and the first word of fullName transliterated, lowercased and
// reduced to [a-z0-9_] ("19079", "Иван Петров" → "19079_ivan"). An empty
// prefix gives no prefix and no underscore ("ivan"). A name with nothing left
// gives "user".
func Login(prefix, fullName string) string {
	words := loginWords(fullName)
	if len(words) == 0 {
		return withPrefix(prefix, fallbackLogin)
	}
	return withPrefix(prefix, words[0])
}

// LoginCandidates returns logins to try, in order, until one is free:
//
//  1. first name:                  19079_ivan
//  2. first and last name:         19079_ivan_petrov
//  3. initial and last name:       19079_ipetrov
//  4. first name and 2…MaxLoginSuffix: 19079_ivan2, 19079_ivan3, … 19079_ivan99
//
// The first name is the first word of fullName and the last name its last
// word; 2 and 3 are left out for a one-word name. Duplicates are removed, so
// the result is never empty and every element is unique. Its first element is
// Login(prefix, fullName).
func LoginCandidates(prefix, fullName string) []string {
	words := loginWords(fullName)
	first := fallbackLogin
	if len(words) > 0 {
		first = words[0]
	}
	out := make([]string, 0, MaxLoginSuffix+2)
	seen := make(map[string]bool, MaxLoginSuffix+2)
	add := func(s string) {
		if s = withPrefix(prefix, s); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	add(first)
	if len(words) > 1 {
		last := words[len(words)-1]
		add(first + "_" + last)
		add(first[:1] + last)
	}
	for n := 2; n <= MaxLoginSuffix; n++ {
		add(first + strconv.Itoa(n))
	}
	return out
}

// loginWords returns the words of fullName transliterated and reduced to
// [a-z0-9], dropping words that end up empty.
func loginWords(fullName string) []string {
	var words []string
	for w := range strings.FieldsSeq(Transliterate(fullName)) {
		if w = loginChars(w, false); w != "" {
			words = append(words, w)
		}
	}
	return words
}

// loginChars keeps the characters of s allowed in a login: a-z, 0-9 and, when
// underscore is set, "_".
func loginChars(s string, underscore bool) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', underscore && r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return -1
	}, s)
}

func withPrefix(prefix, name string) string {
	if p := loginChars(prefix, true); p != "" {
		return p + "_" + name
	}
	return name
}
