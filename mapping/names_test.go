package mapping

import "testing"

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "trim and collapse", in: "  Иван \t  Петров\n", want: "иван петров"},
		{name: "latin case", in: "IVAN   Petrov", want: "ivan petrov"},
		{name: "yo", in: "Фёдор Ёлкин", want: "федор елкин"},
		{name: "decomposed yo", in: "Фе\u0308дор", want: "федор"},
		{name: "decomposed short i", in: "Серги\u0306", want: "сергй"},
		{name: "empty", in: "   ", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizeName(tt.in); got != tt.want {
				t.Errorf("NormalizeName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTransliterate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "Ivan Petrov", in: "Иван Петров", want: "ivan petrov"},
		{name: "shch", in: "Щукин", want: "shchukin"},
		{name: "initial yu, inner ia", in: "Юлия", want: "yuliia"},
		{name: "final short i", in: "Сергей", want: "sergei"},
		{name: "ii ending", in: "Дмитрий", want: "dmitrii"},
		{name: "initial ya", in: "Ярослава", want: "yaroslava"},
		{name: "inner ya after soft sign", in: "Наталья", want: "natalia"},
		{name: "zh kh ts ch sh", in: "Жихарев Цой Чехов Шишкин", want: "zhikharev tsoi chekhov shishkin"},
		{name: "hard sign and y", in: "Подъячев Крылов", want: "podiachev krylov"},
		{name: "e with dots", in: "Пётр Фёдоров", want: "petr fedorov"},
		{name: "e reverse", in: "Эдуард", want: "eduard"},
		{name: "ukrainian letters", in: "Олексій Ґалаґан Євген Їжак", want: "oleksii galagan yevgen yizhak"},
		{name: "ukrainian inner yi and ie", in: "Зінаїда Соломієнко", want: "zinaida solomiienko"},
		{name: "apostrophe is not a word start", in: "Мар'яна", want: "mar'iana"},
		{name: "latin kept and lowercased", in: "John O'Brien", want: "john o'brien"},
		{name: "latin accents dropped", in: "José Müller Łukasz", want: "jose muller lukasz"},
		{name: "mixed", in: "Иван Smith-Петров", want: "ivan smith-petrov"},
		{name: "other scripts kept", in: "李 Иван", want: "李 ivan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transliterate(tt.in); got != tt.want {
				t.Errorf("Transliterate(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNameKey(t *testing.T) {
	tests := []struct {
		name  string
		forms []string // all must give want
		want  string
	}{
		{name: "Ivan Petrov", forms: []string{"Ivan Petrov", "  ivan   PETROV ", "Иван Петров", "Петров Иван", "ИВАН ПЕТРОВ"}, want: "ivan petrov"},
		{name: "Sergey", forms: []string{"Сергей", "Sergey", "Sergei", "Sergej", "SERGEY"}, want: "sergei"},
		{name: "Dmitry", forms: []string{"Дмитрий", "Dmitriy", "Dmitry", "Dmitrii", "Dmitrij", "Dmitri"}, want: "dmitri"},
		{name: "Yulia", forms: []string{"Юлия", "Yulia", "Yuliya", "Julia", "Iuliia", "Yuliia"}, want: "iulia"},
		{name: "Alexander", forms: []string{"Александр", "Aleksandr", "Alexander", "Aleksander", "Alexandr"}, want: "aleksandr"},
		{name: "Alexey", forms: []string{"Алексей", "Alexey", "Aleksey", "Alexei", "Aleksei"}, want: "aleksei"},
		{name: "Evgeny", forms: []string{"Евгений", "Evgeny", "Yevgeny", "Evgeniy", "Evgenii", "Ievgenii"}, want: "evgeni"},
		{name: "Elena", forms: []string{"Елена", "Elena", "Yelena", "Jelena"}, want: "elena"},
		{name: "Fyodor", forms: []string{"Фёдор", "Федор", "Fyodor", "Fedor"}, want: "fedor"},
		{name: "Pyotr", forms: []string{"Пётр", "Petr", "Pyotr", "Peter"}, want: "petr"},
		{name: "Mikhail", forms: []string{"Михаил", "Mikhail", "Mihail"}, want: "mihail"},
		{name: "Natalya", forms: []string{"Наталья", "Natalya", "Natalia", "Nataliya"}, want: "natalia"},
		{name: "Tatiana", forms: []string{"Татьяна", "Tatyana", "Tatiana"}, want: "tatiana"},
		{name: "Ksenia", forms: []string{"Ксения", "Ksenia", "Kseniya", "Xenia"}, want: "ksenia"},
		{name: "Nikolay", forms: []string{"Николай", "Nikolay", "Nikolai"}, want: "nikolai"},
		{name: "Yuri", forms: []string{"Юрий", "Yuriy", "Yury", "Yuri", "Jurij"}, want: "iuri"},
		{name: "Ukrainian Mykola", forms: []string{"Микола", "Mykola", "Mikola"}, want: "mikola"},
		{name: "Artyom", forms: []string{"Артём", "Artem", "Artyom"}, want: "artem"},
		{name: "apostrophes dropped", forms: []string{"Мар'яна", "Mariana", "Maryana", "Mar’iana"}, want: "mariana"},
		{name: "hyphen and digits separate", forms: []string{"Анна-Мария", "anna maria", "Anna Maria 2"}, want: "anna maria"},
		{name: "empty", forms: []string{"", "  ", "123", "-"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range tt.forms {
				if got := NameKey(f); got != tt.want {
					t.Errorf("NameKey(%q) = %q, want %q", f, got, tt.want)
				}
			}
		})
	}
}

func TestNameKey_Distinct(t *testing.T) {
	tests := []struct {
		name string
		a, b string
	}{
		{name: "different first names", a: "Ivan Petrov", b: "Igor Petrov"},
		{name: "patronymic is a word", a: "Иван Иванович Петров", b: "Иван Петров"},
		{name: "Sasha is not Alexander", a: "Sasha", b: "Alexander"},
		{name: "Olga and Oleg", a: "Ольга", b: "Олег"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if NameKey(tt.a) == NameKey(tt.b) {
				t.Errorf("NameKey(%q) = NameKey(%q) = %q, want different", tt.a, tt.b, NameKey(tt.a))
			}
		})
	}
}
