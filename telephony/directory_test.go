package telephony_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/telephony"
)

var uaRules = telephony.Rules{Prefix: "19079", Region: "UA", Emergency: []string{"101", "102", "103", "104", "112", "911", "999"}}

func ptr[T any](v T) *T { return &v }

// validInput is an employee that passes every rule.
func validInput() telephony.EmployeeInput {
	return telephony.EmployeeInput{
		Email:         " Ivan.Petrov@Example.COM ",
		FullName:      "  Іван Петров ",
		Position:      "Sales manager",
		Mobile:        "067 123 45 67",
		MainContacts:  []string{"sip:ivan@PBX.example.com", "+380 50 123 45 67"},
		OtherContacts: []string{"044 123 45 67"},
		Schedule: []telephony.SlotInput{
			{Weekday: json.RawMessage(`1`), Start: "09:00", End: "13:00"},
			{Weekday: json.RawMessage(`"monday"`), Start: "14:00", End: "18:00"},
			{Weekday: json.RawMessage(`"Sat"`), Start: "10:00", End: "24:00"},
		},
		Absences: []telephony.AbsenceInput{{
			Kind: "vacation", StartsAt: "2025-07-01T00:00:00+03:00", EndsAt: "2025-07-15T00:00:00+03:00",
			Redirect: &telephony.Target{Kind: "department", ID: 4},
		}},
	}
}

func TestEmployeeInput_Normalize(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e, err := validInput().Normalize(uaRules)
		if err != nil {
			t.Fatal(err)
		}
		want := telephony.Employee{
			Email: "ivan.petrov@example.com", FullName: "Іван Петров", Position: "Sales manager", Role: "user",
			Mobile: "+380671234567", MainContacts: []string{"sip:ivan@pbx.example.com", "+380501234567"},
			OtherContacts: []string{"+380441234567"}, Devices: "all",
			NoAnswer: telephony.NoAnswer{TimeoutS: 30, Action: "drop"},
			Schedule: []telephony.Slot{
				{Weekday: time.Monday, Start: "09:00", End: "13:00"},
				{Weekday: time.Monday, Start: "14:00", End: "18:00"},
				{Weekday: time.Saturday, Start: "10:00", End: "24:00"},
			},
			Absences: []telephony.Absence{{
				Kind: "vacation", StartsAt: time.Date(2025, 6, 30, 21, 0, 0, 0, time.UTC),
				EndsAt: time.Date(2025, 7, 14, 21, 0, 0, 0, time.UTC), Redirect: &telephony.Target{Kind: "department", ID: 4},
			}},
			Enabled: true, SIPStatus: "not_created",
		}
		if diff := cmp.Diff(want, e); diff != "" {
			t.Errorf("employee (-want +got):\n%s", diff)
		}
	})

	// Each case breaks one rule of a valid input and expects exactly one
	// error, on field, whose message contains msg.
	tests := []struct {
		name  string
		edit  func(*telephony.EmployeeInput)
		field string
		msg   string
	}{
		{"EmailRequired", func(in *telephony.EmployeeInput) { in.Email = " " }, "email", "is required"},
		{"EmailInvalid", func(in *telephony.EmployeeInput) { in.Email = "ivan.example.com" }, "email", `missing "@"`},
		{"EmailDisplayName", func(in *telephony.EmployeeInput) { in.Email = "Ivan <ivan@example.com>" }, "email", "bare address"},
		{"EmailRU", func(in *telephony.EmployeeInput) { in.Email = "ivan@mail.RU" }, "email", ".ru domain"},
		{"EmailRUSubdomain", func(in *telephony.EmployeeInput) { in.Email = "ivan@corp.yandex.ru" }, "email", ".ru domain"},
		{"NameRequired", func(in *telephony.EmployeeInput) { in.FullName = "   " }, "full_name", "is required"},
		{"NameTooLong", func(in *telephony.EmployeeInput) { in.FullName = strings.Repeat("я", 201) }, "full_name", "at most 200"},
		{"LoginChars", func(in *telephony.EmployeeInput) { in.Login = "ivan petrov" }, "login", "a-z, 0-9"},
		{"LoginCyrillic", func(in *telephony.EmployeeInput) { in.Login = "иван" }, "login", "a-z, 0-9"},
		{"LoginTooLong", func(in *telephony.EmployeeInput) { in.Login = strings.Repeat("a", 60) }, "login", "3 to 64"},
		{"PasswordShort", func(in *telephony.EmployeeInput) { in.Password = "1234567" }, "password", "at least 8"},
		{"PasswordLong", func(in *telephony.EmployeeInput) { in.Password = strings.Repeat("x", 73) }, "password", "at most 72"},
		{"PositionTooLong", func(in *telephony.EmployeeInput) { in.Position = strings.Repeat("p", 201) }, "position", "at most 200"},
		{"Role", func(in *telephony.EmployeeInput) { in.Role = "boss" }, "role", "administrator, department_head, user, restricted_user"},
		{"ExtensionLetters", func(in *telephony.EmployeeInput) { in.Extension = "10a" }, "extension", "digits only"},
		{"ExtensionShort", func(in *telephony.EmployeeInput) { in.Extension = "7" }, "extension", "2 to 6 digits"},
		{"ExtensionEmergency112", func(in *telephony.EmployeeInput) { in.Extension = "112" }, "extension", "emergency number"},
		{"ExtensionEmergency103", func(in *telephony.EmployeeInput) { in.Extension = "103" }, "extension", "emergency number"},
		{"DepartmentID", func(in *telephony.EmployeeInput) { in.DepartmentID = ptr(int64(0)) }, "department_id", "department id"},
		{"Mobile", func(in *telephony.EmployeeInput) { in.Mobile = "12" }, "mobile", "invalid phone number"},
		{"MainContact", func(in *telephony.EmployeeInput) { in.MainContacts[1] = "call me" }, "main_contacts[1]", "phone number or a SIP URI"},
		{"SIPContact", func(in *telephony.EmployeeInput) { in.MainContacts[0] = "sip:@pbx" }, "main_contacts[0]", "empty user part"},
		{"OtherContact", func(in *telephony.EmployeeInput) { in.OtherContacts = []string{""} }, "other_contacts[0]", "empty"},
		{"DuplicateContact", func(in *telephony.EmployeeInput) { in.MainContacts[1] = "sip:ivan@pbx.example.com" }, "main_contacts[1]", "duplicates main_contacts[0]"},
		{"DuplicateAcrossLists", func(in *telephony.EmployeeInput) { in.OtherContacts = []string{"050-123-45-67"} }, "other_contacts[0]", "duplicates main_contacts[1] (+380501234567)"},
		{"TooManyContacts", func(in *telephony.EmployeeInput) { in.OtherContacts = make([]string, 21) }, "other_contacts", "at most 20"},
		{"Devices", func(in *telephony.EmployeeInput) { in.Devices = "pager" }, "devices", "sip, mobile or all"},
		{"MobileDelayNegative", func(in *telephony.EmployeeInput) { in.MobileDelayS = -1 }, "mobile_delay_s", "between 0 and 120"},
		{"MobileDelayHigh", func(in *telephony.EmployeeInput) { in.MobileDelayS = 121 }, "mobile_delay_s", "between 0 and 120"},
		{"NoAnswerTimeoutLow", func(in *telephony.EmployeeInput) { in.NoAnswer = &telephony.NoAnswer{TimeoutS: 4} }, "no_answer.timeout_s", "between 5 and 300"},
		{"NoAnswerTimeoutHigh", func(in *telephony.EmployeeInput) { in.NoAnswer = &telephony.NoAnswer{TimeoutS: 301} }, "no_answer.timeout_s", "between 5 and 300"},
		{"NoAnswerAction", func(in *telephony.EmployeeInput) { in.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "ivr"} }, "no_answer.action", "drop, employee, department or voicemail"},
		{"NoAnswerTargetMissing", func(in *telephony.EmployeeInput) {
			in.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "employee"}
		}, "no_answer.target_id", "required when action is employee"},
		{"NoAnswerTargetUnneeded", func(in *telephony.EmployeeInput) {
			in.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "voicemail", TargetID: ptr(int64(3))}
		}, "no_answer.target_id", "must be empty unless"},
		{"WeekdayRange", func(in *telephony.EmployeeInput) { in.Schedule[0].Weekday = json.RawMessage(`7`) }, "schedule[0].weekday", "0–6"},
		{"WeekdayName", func(in *telephony.EmployeeInput) { in.Schedule[0].Weekday = json.RawMessage(`"someday"`) }, "schedule[0].weekday", "day name"},
		{"WeekdayMissing", func(in *telephony.EmployeeInput) { in.Schedule[0].Weekday = nil }, "schedule[0].weekday", "is required"},
		{"SlotStart", func(in *telephony.EmployeeInput) { in.Schedule[0].Start = "9am" }, "schedule[0].start", "HH:MM"},
		{"SlotEnd", func(in *telephony.EmployeeInput) { in.Schedule[0].End = "25:00" }, "schedule[0].end", "HH:MM"},
		{"SlotEndBeforeStart", func(in *telephony.EmployeeInput) { in.Schedule[0].End = "08:00" }, "schedule[0].end", "must be after start (09:00)"},
		{"SlotEmpty", func(in *telephony.EmployeeInput) { in.Schedule[0].End = "09:00" }, "schedule[0].end", "must be after start"},
		{"SlotOverlap", func(in *telephony.EmployeeInput) { in.Schedule[1].Start = "12:59" }, "schedule[1].start", "overlaps schedule[0] (monday 09:00–13:00)"},
		{"AbsenceKind", func(in *telephony.EmployeeInput) { in.Absences[0].Kind = "holiday" }, "absences[0].kind", "vacation, sick_leave or other"},
		{"AbsenceStart", func(in *telephony.EmployeeInput) { in.Absences[0].StartsAt = "2025-07-01" }, "absences[0].starts_at", "RFC 3339"},
		{"AbsenceEnd", func(in *telephony.EmployeeInput) { in.Absences[0].EndsAt = "soon" }, "absences[0].ends_at", "RFC 3339"},
		{"AbsenceEndBeforeStart", func(in *telephony.EmployeeInput) {
			in.Absences[0].EndsAt = "2025-06-30T23:00:00+03:00"
		}, "absences[0].ends_at", "after starts_at"},
		{"AbsenceOverlap", func(in *telephony.EmployeeInput) {
			in.Absences = append(in.Absences, telephony.AbsenceInput{Kind: "sick_leave", StartsAt: "2025-07-14T20:00:00Z", EndsAt: "2025-07-20T00:00:00Z"})
		}, "absences[1].starts_at", "overlaps absences[0]"},
		{"AbsenceRedirectKind", func(in *telephony.EmployeeInput) { in.Absences[0].Redirect.Kind = "queue" }, "absences[0].redirect.kind", "employee or department"},
		{"AbsenceRedirectID", func(in *telephony.EmployeeInput) { in.Absences[0].Redirect.ID = 0 }, "absences[0].redirect.id", "is required"},
		{"SIPStatus", func(in *telephony.EmployeeInput) { in.SIPStatus = "busy" }, "sip_status", "not_created, offline or online"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.edit(&in)
			_, err := in.Normalize(uaRules)
			es, ok := err.(telephony.Errors)
			if !ok || len(es) != 1 {
				t.Fatalf("err = %v, want one error on %s", err, tt.field)
			}
			if es[0].Code != telephony.EInvalid || es[0].Field != tt.field || !strings.Contains(es[0].Message, tt.msg) {
				t.Errorf("error = %s %q: %q, want %q containing %q", es[0].Code, es[0].Field, es[0].Message, tt.field, tt.msg)
			}
		})
	}

	t.Run("EveryFieldAtOnce", func(t *testing.T) {
		in := telephony.EmployeeInput{
			Email: "a@b.ru", Role: "x", MainContacts: []string{"+380501234567", "nope"}, MobileDelayS: 500,
			Schedule: []telephony.SlotInput{{Weekday: json.RawMessage(`2`), Start: "18:00", End: "09:00"}},
			NoAnswer: &telephony.NoAnswer{TimeoutS: 30, Action: "department"},
		}
		_, err := in.Normalize(uaRules)
		var fields []string
		for _, e := range err.(telephony.Errors) {
			fields = append(fields, e.Field)
		}
		want := []string{"email", "full_name", "role", "main_contacts[1]", "mobile_delay_s", "no_answer.target_id", "schedule[0].end"}
		if diff := cmp.Diff(want, fields); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
	})

	t.Run("LoginPrefixed", func(t *testing.T) {
		for login, want := range map[string]string{"Ivan.P": "19079_ivan.p", "19079_olga": "19079_olga", "x": "19079_x"} {
			in := validInput()
			in.Login = login
			e, err := in.Normalize(uaRules)
			if err != nil || e.Login != want {
				t.Errorf("login %q → %q, %v; want %q", login, e.Login, err, want)
			}
		}
	})
}

func TestEmployeeInput_NormalizeUpdate(t *testing.T) {
	cur, err := validInput().Normalize(uaRules)
	if err != nil {
		t.Fatal(err)
	}
	cur.ID, cur.Login, cur.Extension, cur.SIPStatus = 7, "19079_ivan", "100", "online"

	t.Run("KeepsUnsetFields", func(t *testing.T) {
		in := validInput()
		in.Email = ""
		e, err := in.NormalizeUpdate(cur, uaRules)
		if err != nil {
			t.Fatal(err)
		}
		if e.ID != 7 || e.Email != cur.Email || e.Login != "19079_ivan" || e.Extension != "100" || e.SIPStatus != "online" {
			t.Errorf("employee = %+v", e)
		}
	})
	t.Run("SameEmailAnyCase", func(t *testing.T) {
		in := validInput()
		in.Email = "IVAN.PETROV@example.com"
		if _, err := in.NormalizeUpdate(cur, uaRules); err != nil {
			t.Fatal(err)
		}
	})
	tests := []struct {
		name  string
		edit  func(*telephony.EmployeeInput)
		field string
		msg   string
	}{
		{"EmailChanged", func(in *telephony.EmployeeInput) { in.Email = "ivan@example.org" }, "email", "cannot be changed; delete the employee and create a new one"},
		{"EmailInvalid", func(in *telephony.EmployeeInput) { in.Email = "nope" }, "email", "cannot be changed"},
		{"NoAnswerSelf", func(in *telephony.EmployeeInput) {
			in.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "employee", TargetID: ptr(int64(7))}
		}, "no_answer.target_id", "cannot be the employee itself"},
		{"RedirectSelf", func(in *telephony.EmployeeInput) {
			in.Absences[0].Redirect = &telephony.Target{Kind: "employee", ID: 7}
		}, "absences[0].redirect.id", "cannot be the employee itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validInput()
			tt.edit(&in)
			_, err := in.NormalizeUpdate(cur, uaRules)
			es, ok := err.(telephony.Errors)
			if !ok || len(es) != 1 || es[0].Field != tt.field || !strings.Contains(es[0].Message, tt.msg) {
				t.Fatalf("err = %v, want %s: %s", err, tt.field, tt.msg)
			}
		})
	}
}

func TestEmployeeInput_References(t *testing.T) {
	in := validInput()
	in.DepartmentID = ptr(int64(2))
	in.NoAnswer = &telephony.NoAnswer{TimeoutS: 20, Action: "employee", TargetID: ptr(int64(9))}
	in.Absences = append([]telephony.AbsenceInput{{Kind: "other"}}, in.Absences...)
	want := []telephony.Reference{
		{Field: "department_id", Kind: "department", ID: 2},
		{Field: "no_answer.target_id", Kind: "employee", ID: 9},
		{Field: "absences[1].redirect.id", Kind: "department", ID: 4},
	}
	if diff := cmp.Diff(want, in.References()); diff != "" {
		t.Errorf("references (-want +got):\n%s", diff)
	}
}

func TestEmployee_Input(t *testing.T) {
	// An employee's Input normalises back to the same employee.
	e, err := validInput().Normalize(uaRules)
	if err != nil {
		t.Fatal(err)
	}
	e.Login, e.Extension = "19079_ivan", "100"
	again, err := e.Input().Normalize(uaRules)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, again); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}
