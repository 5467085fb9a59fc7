package mapping

import (
	"slices"
	"strings"
	"unicode"
)

// NormalizeName returns s trimmed, with runs of whitespace collapsed to one
// space, lowercased, and "ё" written as "е" (also when typed as "е" plus a
// combining diaeresis, or "й" as "и" plus a combining breve). It is the form
// in which employee full names are compared for uniqueness.
func NormalizeName(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ToLower(s)
	if !strings.ContainsAny(s, "ё\u0306\u0308") {
		return s
	}
	return nameComposer.Replace(s)
}

var nameComposer = strings.NewReplacer(
	"ё", "е", "е\u0308", "е", "и\u0306", "й", "і\u0308", "ї",
)

// translit is the Cyrillic → Latin table of Transliterate: the Ukrainian
// national system of 2010 (as used in Ukrainian passports), extended to the
// Russian letters as in Russian passports (ICAO Doc 9303), with г always "g".
var translit = map[rune]string{
	'а': "a", 'б': "b", 'в': "v", 'г': "g", 'ґ': "g", 'д': "d", 'е': "e", 'ё': "e",
	'ж': "zh", 'з': "z", 'и': "i", 'і': "i", 'к': "k", 'л': "l", 'м': "m", 'н': "n",
	'о': "o", 'п': "p", 'р': "r", 'с': "s", 'т': "t", 'у': "u", 'ф': "f", 'х': "kh",
	'ц': "ts", 'ч': "ch", 'ш': "sh", 'щ': "shch", 'ъ': "", 'ы': "y", 'ь': "", 'э': "e",
	// Word-initial forms are in translitInitial.
	'є': "ie", 'ї': "i", 'й': "i", 'ю': "iu", 'я': "ia",
	// Common accented Latin letters lose their accents.
	'à': "a", 'á': "a", 'â': "a", 'ã': "a", 'ä': "a", 'å': "a", 'ą': "a", 'æ': "ae",
	'ç': "c", 'č': "c", 'ć': "c", 'ď': "d", 'đ': "d", 'è': "e", 'é': "e", 'ê': "e",
	'ë': "e", 'ę': "e", 'ě': "e", 'ğ': "g", 'ì': "i", 'í': "i", 'î': "i", 'ï': "i",
	'ı': "i", 'ł': "l", 'ñ': "n", 'ń': "n", 'ň': "n", 'ò': "o", 'ó': "o", 'ô': "o",
	'õ': "o", 'ö': "o", 'ø': "o", 'œ': "oe", 'ř': "r", 'š': "s", 'ś': "s", 'ş': "s",
	'ß': "ss", 'ť': "t", 'ù': "u", 'ú': "u", 'û': "u", 'ü': "u", 'ů': "u", 'ý': "y",
	'ÿ': "y", 'ž': "z", 'ź': "z", 'ż': "z",
}

// translitInitial holds the letters written differently at the start of a word.
var translitInitial = map[rune]string{'є': "ye", 'ї': "yi", 'й': "y", 'ю': "yu", 'я': "ya"}

// Transliterate normalises s with NormalizeName and writes its Russian and
// Ukrainian letters in Latin; other characters are kept (common accented Latin letters lose their
// accents). The scheme is the Ukrainian national one of 2010 applied to both
// languages, with the Russian-only letters as in Russian passports:
//
//	а a  б b  в v  г g  ґ g  д d  е e  ё e  є ye/ie  ж zh  з z  и i  і i  ї yi/i
//	й y/i  к k  л l  м m  н n  о o  п p  р r  с s  т t  у u  ф f  х kh  ц ts
//	ч ch  ш sh  щ shch  ъ –  ы y  ь –  э e  ю yu/iu  я ya/ia
//
// where "x/y" is the form at the start of a word / elsewhere (an apostrophe
// does not start a word). So "Иван Петров" → "ivan petrov", "Щукин" →
// "shchukin", "Юлия" → "yuliia", "Сергей" → "sergei", "Мар'яна" → "mar'iana".
// г is always "g" (Ukrainian's own "h" would need the language).
func Transliterate(s string) string {
	s = NormalizeName(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/4)
	prev := ' '
	for _, r := range s {
		if t, ok := translitInitial[r]; ok && !isLetterOrApostrophe(prev) {
			b.WriteString(t)
		} else if t, ok := translit[r]; ok {
			b.WriteString(t)
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

func isLetterOrApostrophe(r rune) bool {
	return unicode.IsLetter(r) || r == '\'' || r == '’' || r == 'ʼ'
}

// NameKey returns the key under which two spellings of a person's name are
// the same name: Transliterate, then letters only (apostrophes dropped, any
// other non-letter separates words), each word folded as below, and the words
// sorted and joined by single spaces, so "Ivan Petrov", "  ivan   PETROV ",
// "Petrov Ivan" and "Иван Петров" all give "ivan petrov". "" means no name.
//
// The folding makes the usual Latin spellings of Russian and Ukrainian names
// meet their transliteration. In order, in each word:
//
//  1. x → ks (Alexei = Aleksei)
//  2. j → y (Julia = Yulia, Sergej = Sergey)
//  3. kh → h (Mikhail = Mihail)
//  4. "yo" after a consonant → e (Fyodor = Fedor = Фёдор, Artyom = Artem)
//  5. y → i (Sergey = Sergei, Mykola = Mikola)
//  6. runs of i → one i (Dmitriy = Dmitrii = Dmitry = Дмитрий, Yuliya = Yulia = Юлия)
//  7. a leading "ie" → e (Yevgeny = Evgeny = Евгений, Yelena = Elena)
//  8. a final "er" after a consonant → r (Alexander = Aleksandr, Peter = Petr)
//
// Keys are for comparison only; they are not meant to be shown.
func NameKey(s string) string {
	words := strings.FieldsFunc(Transliterate(s), func(r rune) bool {
		return !unicode.IsLetter(r) && r != '\'' && r != '’' && r != 'ʼ'
	})
	out := words[:0]
	for _, w := range words {
		if w = foldWord(w); w != "" {
			out = append(out, w)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

// foldWord applies NameKey's folding to one lowercase word.
func foldWord(w string) string {
	var b []byte
	for _, r := range w {
		switch {
		case r == '\'' || r == '’' || r == 'ʼ':
		case r == 'x':
			b = append(b, 'k', 's')
		case r == 'j':
			b = append(b, 'y')
		case r < 0x80:
			b = append(b, byte(r))
		default:
			b = append(b, string(r)...) // letters of other scripts are kept
		}
	}
	b = replaceAll(b, "kh", "h")
	for i := 1; i+1 < len(b); i++ {
		if b[i] == 'y' && b[i+1] == 'o' && isConsonant(b[i-1]) {
			b = append(b[:i], b[i+1:]...)
			b[i] = 'e'
		}
	}
	out := b[:0]
	for _, c := range b {
		if c == 'y' {
			c = 'i'
		}
		if c == 'i' && len(out) > 0 && out[len(out)-1] == 'i' {
			continue
		}
		out = append(out, c)
	}
	if len(out) > 2 && out[0] == 'i' && out[1] == 'e' {
		out = out[1:]
	}
	if n := len(out); n > 3 && out[n-2] == 'e' && out[n-1] == 'r' && isConsonant(out[n-3]) {
		out = append(out[:n-2], 'r')
	}
	return string(out)
}

func replaceAll(b []byte, old, repl string) []byte {
	if !strings.Contains(string(b), old) {
		return b
	}
	return []byte(strings.ReplaceAll(string(b), old, repl))
}

func isConsonant(c byte) bool {
	return c >= 'a' && c <= 'z' && !strings.ContainsRune("aeiouy", rune(c))
}
