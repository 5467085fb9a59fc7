package web_test

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/crmsync/crmsync/telephony"
)

// validEmployee is a request body that passes every rule.
func validEmployee() map[string]any {
	return map[string]any{
		"email": "Ivan.Petrov@Example.com", "full_name": "Иван Петров",
		"position": "Sales manager", "role": "department_head", "mobile": "067 123 45 67",
		"main_contacts":  []any{"sip:ivan@pbx.example.com", "050 123 45 67"},
		"other_contacts": []any{"+380 44 123 45 67"},
		"devices":        "all", "mobile_delay_s": 5,
		"no_answer": map[string]any{"timeout_s": 20, "action": "voicemail"},
		"schedule":  []any{map[string]any{"weekday": "monday", "start": "09:00", "end": "18:00"}},
		"absences": []any{map[string]any{"kind": "vacation",
			"starts_at": "2025-07-01T00:00:00+03:00", "ends_at": "2025-07-15T00:00:00+03:00"}},
		"enabled": true, "sip_status": "offline",
	}
}

func TestEmployees_Create(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		body := validEmployee()
		body["password"] = "correct horse"
		r := e.a.do("POST", "/api/v1/employees", body)
		var got map[string]any
		r.decode(t, http.StatusCreated, &got)
		if r.Header.Get("Location") != "/api/v1/employees/"+id(got) {
			t.Errorf("Location %q", r.Header.Get("Location"))
		}
		keys := slices.Sorted(maps.Keys(got))
		wantKeys := []string{"absences", "created_at", "department_id", "devices", "email", "enabled", "extension",
			"full_name", "id", "login", "main_contacts", "mobile", "mobile_delay_s", "no_answer", "other_contacts",
			"position", "role", "schedule", "sip_status", "updated_at"}
		if diff := cmp.Diff(wantKeys, keys); diff != "" {
			t.Errorf("JSON keys (-want +got):\n%s", diff)
		}
		delete(got, "id")
		delete(got, "created_at")
		delete(got, "updated_at")
		want := map[string]any{
			"email": "ivan.petrov@example.com", "full_name": "Иван Петров", "login": "19079_ivan",
			"position": "Sales manager", "role": "department_head", "extension": "100", "department_id": nil,
			"mobile": "+380671234567", "main_contacts": []any{"sip:ivan@pbx.example.com", "+380501234567"},
			"other_contacts": []any{"+380441234567"}, "devices": "all", "mobile_delay_s": 5.0,
			"no_answer": map[string]any{"timeout_s": 20.0, "action": "voicemail", "target_id": nil},
			"schedule":  []any{map[string]any{"weekday": 1.0, "start": "09:00", "end": "18:00"}},
			"absences": []any{map[string]any{"kind": "vacation", "starts_at": "2025-06-30T21:00:00Z",
				"ends_at": "2025-07-14T21:00:00Z", "redirect": nil}},
			"enabled": true, "sip_status": "offline",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("employee (-want +got):\n%s", diff)
		}

		t.Run("Defaults", func(t *testing.T) {
			var d telephony.Employee
			e.a.do("POST", "/api/v1/employees", `{"email":"min@example.com","full_name":"Min"}`).decode(t, http.StatusCreated, &d)
			if d.Role != "user" || d.Devices != "all" || !d.Enabled || d.SIPStatus != "not_created" || d.Extension != "105" ||
				d.NoAnswer != telephony.DefaultNoAnswer() || d.MainContacts == nil || d.Schedule == nil {
				t.Errorf("defaults = %+v", d)
			}
		})
		t.Run("Read", func(t *testing.T) {
			var one telephony.Employee
			e.a.do("GET", "/api/v1/employees/"+r.Header.Get("Location")[len("/api/v1/employees/"):], nil).decode(t, http.StatusOK, &one)
			if one.Email != "ivan.petrov@example.com" {
				t.Errorf("GET = %+v", one)
			}
			var list []telephony.Employee
			e.a.do("GET", "/api/v1/employees?q=ПЕТР", nil).decode(t, http.StatusOK, &list)
			if len(list) != 1 || list[0].ID != one.ID {
				t.Errorf("?q=ПЕТР: %+v", list)
			}
			e.a.do("GET", "/api/v1/employees?q=min@", nil).decode(t, http.StatusOK, &list)
			if len(list) != 1 || list[0].FullName != "Min" {
				t.Errorf("?q=min@: %+v", list)
			}
			e.a.do("GET", "/api/v1/employees?q=100%25", nil).decode(t, http.StatusOK, &list)
			if len(list) != 0 {
				t.Errorf("?q=100%%: %+v", list)
			}
			if r := e.a.do("GET", "/api/v1/employees/abc", nil); r.Status != http.StatusNotFound {
				t.Errorf("GET /employees/abc: %d", r.Status)
			}
			if r := e.a.do("GET", "/api/v1/employees?department_id=x", nil); r.Status != http.StatusBadRequest {
				t.Errorf("?department_id=x: %d", r.Status)
			}
		})
		t.Run("Unauthenticated", func(t *testing.T) {
			c := e.a
			c.key = "csk_wrong"
			if r := c.do("GET", "/api/v1/employees", nil); r.Status != http.StatusUnauthorized {
				t.Errorf("status %d", r.Status)
			}
		})
	})
}

// ruleCase breaks one rule: edit changes a valid body, and the request
// must fail with status, code, field and a message containing msg.
type ruleCase struct {
	name   string
	edit   func(b map[string]any)
	status int
	code   string
	field  string
	msg    string
}

func set(key string, v any) func(map[string]any) { return func(b map[string]any) { b[key] = v } }

func TestEmployees_Rules(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		// Records the rules refer to.
		e.a.mustCreate("/api/v1/employees", map[string]any{"email": "olga@example.com",
			"full_name": "Olga Shevchenko", "login": "olga", "extension": "300"})
		dept := e.a.mustCreate("/api/v1/departments", map[string]any{"name": "Sales", "extension": "400"})
		stranger := e.b.mustCreate("/api/v1/employees", map[string]any{"email": "s@example.com", "full_name": "Stranger"})
		strangerDept := e.b.mustCreate("/api/v1/departments", map[string]any{"name": "Theirs"})
		const bad, conflict = http.StatusBadRequest, http.StatusConflict
		tests := []ruleCase{
			{"EmailRequired", func(b map[string]any) { delete(b, "email") }, bad, "invalid", "email", "is required"},
			{"EmailInvalid", set("email", "ivan@"), bad, "invalid", "email", `invalid email "ivan@": empty domain`},
			{"EmailNotFullDomain", set("email", "ivan@localhost"), bad, "invalid", "email", "not a full domain name"},
			{"EmailRU", set("email", "ivan@yandex.ru"), bad, "invalid", "email", "addresses in the .ru domain are not accepted"},
			{"EmailTaken", set("email", "OLGA@example.com"), conflict, "conflict", "email", "an employee with this email already exists"},
			{"NameRequired", set("full_name", "  "), bad, "invalid", "full_name", "is required"},
			{"NameTaken", set("full_name", " olga  SHEVCHENKO "), conflict, "conflict", "full_name", "an employee with this full name already exists"},
			{"LoginInvalid", set("login", "ivan!"), bad, "invalid", "login", "must be 3 to 64 characters of a-z, 0-9, '.', '_' and '-'"},
			{"LoginTaken", set("login", "19079_olga"), conflict, "conflict", "login", "this login is taken"},
			{"LoginTakenUnprefixed", set("login", "Olga"), conflict, "conflict", "login", "this login is taken"},
			{"PasswordShort", set("password", "short"), bad, "invalid", "password", "must be at least 8 characters"},
			{"PositionLong", set("position", strings.Repeat("x", 201)), bad, "invalid", "position", "at most 200"},
			{"Role", set("role", "admin"), bad, "invalid", "role", "must be one of administrator, department_head, user, restricted_user"},
			{"ExtensionEmergency112", set("extension", "112"), bad, "invalid", "extension", "is an emergency number"},
			{"ExtensionEmergency911", set("extension", "911"), bad, "invalid", "extension", "is an emergency number"},
			{"ExtensionEmergency101", set("extension", "101"), bad, "invalid", "extension", "is an emergency number"},
			{"ExtensionDigits", set("extension", "1x"), bad, "invalid", "extension", "digits only"},
			{"ExtensionOfEmployee", set("extension", "300"), conflict, "conflict", "extension", "this extension is taken by another employee or department"},
			{"ExtensionOfDepartment", set("extension", "400"), conflict, "conflict", "extension", "this extension is taken by another employee or department"},
			{"Mobile", set("mobile", "0671"), bad, "invalid", "mobile", "invalid phone number"},
			{"MainContact", set("main_contacts", []any{"+380501234567", "john"}), bad, "invalid", "main_contacts[1]", "must be a phone number or a SIP URI"},
			{"MainContactDuplicate", set("main_contacts", []any{"+380501234567", "050-123-45-67"}), bad, "invalid", "main_contacts[1]", "duplicates main_contacts[0] (+380501234567)"},
			{"OtherContact", set("other_contacts", []any{"sip:bob@"}), bad, "invalid", "other_contacts[0]", "empty host"},
			{"OtherContactDuplicatesMain", set("other_contacts", []any{"sip:ivan@PBX.example.com"}), bad, "invalid", "other_contacts[0]", "duplicates main_contacts[0]"},
			{"DepartmentMissing", set("department_id", 999999), bad, "invalid", "department_id", "department 999999 does not exist"},
			{"DepartmentOtherTenant", set("department_id", strangerDept["id"]), bad, "invalid", "department_id", "department " + id(strangerDept) + " does not exist"},
			{"Devices", set("devices", "phone"), bad, "invalid", "devices", "must be sip, mobile or all"},
			{"MobileDelay", set("mobile_delay_s", 121), bad, "invalid", "mobile_delay_s", "must be between 0 and 120 seconds"},
			{"MobileDelayType", set("mobile_delay_s", "5"), bad, "invalid", "mobile_delay_s", "must be a JSON number"},
			{"NoAnswerTimeout", set("no_answer", map[string]any{"timeout_s": 301, "action": "drop"}), bad, "invalid", "no_answer.timeout_s", "between 5 and 300"},
			{"NoAnswerAction", set("no_answer", map[string]any{"timeout_s": 30, "action": "hangup"}), bad, "invalid", "no_answer.action", "must be drop, employee, department or voicemail"},
			{"NoAnswerTargetRequired", set("no_answer", map[string]any{"timeout_s": 30, "action": "department"}), bad, "invalid", "no_answer.target_id", "is required when action is department"},
			{"NoAnswerTargetMissing", set("no_answer", map[string]any{"timeout_s": 30, "action": "employee", "target_id": 999999}), bad, "invalid", "no_answer.target_id", "employee 999999 does not exist"},
			{"NoAnswerTargetOtherTenant", set("no_answer", map[string]any{"timeout_s": 30, "action": "employee", "target_id": stranger["id"]}), bad, "invalid", "no_answer.target_id", "does not exist"},
			{"AbsenceRedirectOtherTenant", set("absences", []any{map[string]any{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-07-10T00:00:00Z",
				"redirect": map[string]any{"kind": "employee", "id": stranger["id"]}}}), bad, "invalid", "absences[0].redirect.id", "employee " + id(stranger) + " does not exist"},
			{"ScheduleWeekday", set("schedule", []any{map[string]any{"weekday": 7, "start": "09:00", "end": "18:00"}}), bad, "invalid", "schedule[0].weekday", "must be 0–6 (0 = Sunday)"},
			{"ScheduleStart", set("schedule", []any{map[string]any{"weekday": 1, "start": "9", "end": "18:00"}}), bad, "invalid", "schedule[0].start", "HH:MM"},
			{"ScheduleEndBeforeStart", set("schedule", []any{map[string]any{"weekday": 1, "start": "18:00", "end": "09:00"}}), bad, "invalid", "schedule[0].end", "must be after start (18:00)"},
			{"ScheduleOverlap", set("schedule", []any{
				map[string]any{"weekday": 1, "start": "09:00", "end": "13:00"},
				map[string]any{"weekday": "Mon", "start": "12:00", "end": "18:00"}}), bad, "invalid", "schedule[1].start", "overlaps schedule[0] (monday 09:00–13:00)"},
			{"AbsenceKind", set("absences", []any{map[string]any{"kind": "trip", "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-07-02T00:00:00Z"}}), bad, "invalid", "absences[0].kind", "must be vacation, sick_leave or other"},
			{"AbsenceTime", set("absences", []any{map[string]any{"kind": "other", "starts_at": "July 1", "ends_at": "2025-07-02T00:00:00Z"}}), bad, "invalid", "absences[0].starts_at", "RFC 3339"},
			{"AbsenceEndsBeforeStart", set("absences", []any{map[string]any{"kind": "other", "starts_at": "2025-07-02T00:00:00Z", "ends_at": "2025-07-01T00:00:00Z"}}), bad, "invalid", "absences[0].ends_at", "must be after starts_at"},
			{"AbsenceOverlap", set("absences", []any{
				map[string]any{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-07-10T00:00:00Z"},
				map[string]any{"kind": "sick_leave", "starts_at": "2025-07-09T00:00:00Z", "ends_at": "2025-07-12T00:00:00Z"}}), bad, "invalid", "absences[1].starts_at", "overlaps absences[0]"},
			{"AbsenceRedirectMissing", set("absences", []any{map[string]any{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-07-10T00:00:00Z",
				"redirect": map[string]any{"kind": "department", "id": 999999}}}), bad, "invalid", "absences[0].redirect.id", "department 999999 does not exist"},
			{"AbsenceRedirectKind", set("absences", []any{map[string]any{"kind": "vacation", "starts_at": "2025-07-01T00:00:00Z", "ends_at": "2025-07-10T00:00:00Z",
				"redirect": map[string]any{"kind": "queue", "id": 1}}}), bad, "invalid", "absences[0].redirect.kind", "must be employee or department"},
			{"SIPStatus", set("sip_status", "away"), bad, "invalid", "sip_status", "must be not_created, offline or online"},
			{"UnknownField", set("nickname", "vanya"), bad, "invalid", "nickname", "unknown field"},
			{"EnabledType", set("enabled", "yes"), bad, "invalid", "enabled", "must be a JSON boolean"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				body := validEmployee()
				body["department_id"] = dept["id"]
				tt.edit(body)
				before := e.count()
				er := e.a.do("POST", "/api/v1/employees", body).apiErr(t, tt.status)
				if er.Error.Code != tt.code || er.Error.Field != tt.field || !strings.Contains(er.Error.Message, tt.msg) {
					t.Errorf("error = %+v\nwant %s on %q containing %q", er.Error, tt.code, tt.field, tt.msg)
				}
				if len(er.Error.Errors) > 1 {
					t.Errorf("more than the one broken rule reported: %+v", er.Error.Errors)
				}
				if after := e.count(); !maps.Equal(after, before) {
					t.Errorf("a rejected request wrote rows: %v → %v", before, after)
				}
			})
		}
		// The valid body itself passes, so each case above broke only its rule.
		e.a.mustCreate("/api/v1/employees", validEmployee())
	})
}

// count returns the row counts of every table a directory write touches.
func (e *env) count() map[string]int {
	e.t.Helper()
	out := map[string]int{}
	for _, table := range []string{"employees", "employee_contacts", "schedule_slots", "absences", "extensions", "departments", "audit_log"} {
		var n int
		if err := e.db.SQL().Get(&n, "SELECT COUNT(*) FROM "+table); err != nil {
			e.t.Fatal(err)
		}
		out[table] = n
	}
	return out
}

func TestEmployees_EveryErrorAtOnce(t *testing.T) {
	eachEnv(t, func(t *testing.T, e *env) {
		body := validEmployee()
		body["email"] = "x@mail.ru"
		body["main_contacts"] = []any{"+380501234567", "bad", "sip:ok@pbx.example.com"}
		body["department_id"] = 424242
		body["schedule"] = []any{map[string]any{"weekday": 1, "start": "10:00", "end": "09:00"}}
		body["no_answer"] = map[string]any{"timeout_s": 1, "action": "employee", "target_id": 525252}
		before := e.count()
		er := e.a.do("POST", "/api/v1/employees", body).apiErr(t, http.StatusBadRequest)
		var fields []string
		for _, fe := range er.Error.Errors {
			fields = append(fields, fe.Field)
		}
		want := []string{"email", "main_contacts[1]", "no_answer.timeout_s", "schedule[0].end", "department_id", "no_answer.target_id"}
		if diff := cmp.Diff(want, fields); diff != "" {
			t.Errorf("fields (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(before, e.count()); diff != "" {
			t.Errorf("rows written (-before +after):\n%s", diff)
		}
	})
}
