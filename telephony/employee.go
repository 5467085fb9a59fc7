package telephony

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync/mapping"
)

// EmployeeInput is what creating or replacing an employee takes, as the
// client sends it. Normalize turns it into an Employee.
//
// On create, an empty Login is generated from the name and an empty
// Extension is the next free one. On update, empty Email, Login, Extension,
// Password and SIPStatus keep the current values.
type EmployeeInput struct {
	Email         string         `json:"email,omitempty"`
	FullName      string         `json:"full_name"`
	Login         string         `json:"login,omitempty"`
	Password      string         `json:"password,omitempty"` // write-only; stored hashed
	Position      string         `json:"position"`
	Role          string         `json:"role,omitempty"`      // default user
	Extension     string         `json:"extension,omitempty"` // default: next free
	DepartmentID  *int64         `json:"department_id"`
	Mobile        string         `json:"mobile"`
	MainContacts  []string       `json:"main_contacts"`
	OtherContacts []string       `json:"other_contacts"`
	Devices       string         `json:"devices,omitempty"` // default all
	MobileDelayS  int            `json:"mobile_delay_s"`
	NoAnswer      *NoAnswer      `json:"no_answer,omitempty"` // default DefaultNoAnswer
	Schedule      []SlotInput    `json:"schedule"`
	Absences      []AbsenceInput `json:"absences"`
	Enabled       *bool          `json:"enabled,omitempty"`    // default true
	SIPStatus     string         `json:"sip_status,omitempty"` // default not_created
}

// loginPattern is what a login must look like once prefixed.
var loginPattern = regexp.MustCompile(`^[a-z0-9._-]{3,64}$`)

var (
	roles          = []string{RoleAdministrator, RoleDepartmentHead, RoleUser, RoleRestrictedUser}
	devices        = []string{DevicesSIP, DevicesMobile, DevicesAll}
	sipStatuses    = []string{SIPNotCreated, SIPOffline, SIPOnline}
	noAnswerAction = []string{NoAnswerDrop, NoAnswerEmployee, NoAnswerDepartment, NoAnswerVoicemail}
)

// Normalize checks in against every employee rule that needs no other
// record and returns the employee it describes: email lowercased, name
// trimmed, login prefixed, phone numbers in E.164, SIP URIs normalised,
// defaults filled in. Login and Extension stay empty when not given (the
// store assigns them). The result is filled as far as possible even when
// there are errors, so that the store can add its own checks and report
// every bad field at once; the error is an Errors.
func (in EmployeeInput) Normalize(r Rules) (Employee, error) {
	var es Errors
	e := Employee{
		Position:     strings.TrimSpace(in.Position),
		DepartmentID: in.DepartmentID,
		Devices:      orDefault(in.Devices, DevicesAll),
		Role:         orDefault(in.Role, RoleUser),
		SIPStatus:    orDefault(in.SIPStatus, SIPNotCreated),
		MobileDelayS: in.MobileDelayS,
		Enabled:      in.Enabled == nil || *in.Enabled,
	}

	switch email, err := mapping.NormalizeEmail(in.Email); {
	case strings.TrimSpace(in.Email) == "":
		es.Add("email", "is required")
	case err != nil:
		es.Add("email", "%s", reason(err))
	case mapping.IsRUDomain(email):
		es.Add("email", "addresses in the .ru domain are not accepted")
	default:
		e.Email = email
	}

	e.FullName = strings.TrimSpace(in.FullName)
	switch {
	case e.FullName == "":
		es.Add("full_name", "is required")
	case utf8.RuneCountInString(e.FullName) > MaxNameLen:
		es.Add("full_name", "must be at most %d characters", MaxNameLen)
	}

	if login := strings.TrimSpace(in.Login); login != "" {
		e.Login = r.prefixLogin(login)
		if !loginPattern.MatchString(e.Login) {
			es.Add("login", "must be 3 to 64 characters of a-z, 0-9, '.', '_' and '-' (got %q)", e.Login)
		}
	}
	if in.Password != "" {
		if utf8.RuneCountInString(in.Password) < MinPasswordLen {
			es.Add("password", "must be at least %d characters", MinPasswordLen)
		} else if len(in.Password) > MaxPasswordBytes {
			es.Add("password", "must be at most %d bytes", MaxPasswordBytes)
		}
	}
	if utf8.RuneCountInString(e.Position) > MaxPositionLen {
		es.Add("position", "must be at most %d characters", MaxPositionLen)
	}
	if !slices.Contains(roles, e.Role) {
		es.Add("role", "must be one of %s (got %q)", strings.Join(roles, ", "), e.Role)
	}
	if ext := strings.TrimSpace(in.Extension); ext != "" {
		e.Extension = ext
		if err := mapping.ValidExtension(ext, r.Emergency); err != nil {
			es.Add("extension", "%s", reason(err))
		}
	}
	if in.DepartmentID != nil && *in.DepartmentID <= 0 {
		es.Add("department_id", "must be a department id")
	}
	if m := strings.TrimSpace(in.Mobile); m != "" {
		if e164, err := mapping.E164(m, r.Region); err != nil {
			es.Add("mobile", "%s", reason(err))
		} else {
			e.Mobile = e164
		}
	}
	e.MainContacts, e.OtherContacts = normalizeContacts(&es, in.MainContacts, in.OtherContacts, r.Region)

	if !slices.Contains(devices, e.Devices) {
		es.Add("devices", "must be sip, mobile or all (got %q)", e.Devices)
	}
	if e.MobileDelayS < 0 || e.MobileDelayS > MaxMobileDelayS {
		es.Add("mobile_delay_s", "must be between 0 and %d seconds", MaxMobileDelayS)
	}
	e.NoAnswer = normalizeNoAnswer(&es, in.NoAnswer)
	e.Schedule = normalizeSchedule(&es, in.Schedule)
	e.Absences = normalizeAbsences(&es, in.Absences)
	if !slices.Contains(sipStatuses, e.SIPStatus) {
		es.Add("sip_status", "must be not_created, offline or online (got %q)", e.SIPStatus)
	}
	return e, es.Err()
}

// NormalizeUpdate is Normalize for replacing the fields of cur: empty
// Email, Login, Extension and SIPStatus keep cur's, the email must stay the
// same, and the no-answer target and absence redirects may not point at the
// employee itself. The result carries cur's ID and CreatedAt.
func (in EmployeeInput) NormalizeUpdate(cur Employee, r Rules) (Employee, error) {
	var es Errors
	if strings.TrimSpace(in.Email) != "" {
		if email, err := mapping.NormalizeEmail(in.Email); err != nil || email != cur.Email {
			es.Add("email", "cannot be changed; delete the employee and create a new one")
		}
	}
	in.Email = cur.Email
	in.Login = orDefault(strings.TrimSpace(in.Login), cur.Login)
	in.Extension = orDefault(strings.TrimSpace(in.Extension), cur.Extension)
	in.SIPStatus = orDefault(in.SIPStatus, cur.SIPStatus)

	e, err := in.Normalize(r)
	if err != nil {
		es = append(es, err.(Errors)...)
	}
	e.ID, e.CreatedAt, e.UpdatedAt = cur.ID, cur.CreatedAt, cur.UpdatedAt
	for _, ref := range in.References() {
		if ref.Kind == TargetEmployee && ref.ID == cur.ID {
			es.Add(ref.Field, "cannot be the employee itself")
		}
	}
	return e, es.Err()
}

// Reference is an id an employee input points at, to be checked against the
// tenant's records.
type Reference struct {
	Field string // JSON field, e.g. absences[1].redirect.id
	Kind  string // employee | department
	ID    int64
}

// References returns the well-formed references in (department, no-answer
// target, absence redirects) under the field names the client used.
func (in EmployeeInput) References() []Reference {
	var refs []Reference
	if in.DepartmentID != nil && *in.DepartmentID > 0 {
		refs = append(refs, Reference{"department_id", TargetDepartment, *in.DepartmentID})
	}
	if n := in.NoAnswer; n != nil && n.TargetID != nil && *n.TargetID > 0 &&
		(n.Action == NoAnswerEmployee || n.Action == NoAnswerDepartment) {
		refs = append(refs, Reference{"no_answer.target_id", n.Action, *n.TargetID})
	}
	for i, a := range in.Absences {
		if r := a.Redirect; r != nil && r.ID > 0 && (r.Kind == TargetEmployee || r.Kind == TargetDepartment) {
			refs = append(refs, Reference{fmt.Sprintf("absences[%d].redirect.id", i), r.Kind, r.ID})
		}
	}
	return refs
}

// prefixLogin puts the tenant prefix in front of a login that lacks it: the
// prefix is part of every login (19079_ivan), and logins are unique across
// tenants.
func (r Rules) prefixLogin(login string) string {
	login = strings.ToLower(login)
	if r.Prefix == "" || strings.HasPrefix(login, r.Prefix+"_") {
		return login
	}
	return r.Prefix + "_" + login
}

// normalizeContacts normalises both contact lists and refuses duplicates
// across them.
func normalizeContacts(es *Errors, main, other []string, region string) (outMain, outOther []string) {
	seen := map[string]string{} // value → field that has it
	list := func(name string, raw []string) []string {
		out := []string{}
		if len(raw) > MaxContacts {
			es.Add(name, "must have at most %d entries", MaxContacts)
			return out
		}
		for i, v := range raw {
			field := fmt.Sprintf("%s[%d]", name, i)
			c, err := mapping.Contact(v, region)
			if err != nil {
				es.Add(field, "must be a phone number or a SIP URI: %s", reason(err))
				continue
			}
			if prev, dup := seen[c.Value]; dup {
				es.Add(field, "duplicates %s (%s)", prev, c.Value)
				continue
			}
			seen[c.Value] = field
			out = append(out, c.Value)
		}
		return out
	}
	return list("main_contacts", main), list("other_contacts", other)
}

func normalizeNoAnswer(es *Errors, in *NoAnswer) NoAnswer {
	if in == nil {
		return DefaultNoAnswer()
	}
	n := *in
	if n.Action == "" {
		n.Action = NoAnswerDrop
	}
	if n.TimeoutS < MinNoAnswerTimeoutS || n.TimeoutS > MaxNoAnswerTimeoutS {
		es.Add("no_answer.timeout_s", "must be between %d and %d seconds", MinNoAnswerTimeoutS, MaxNoAnswerTimeoutS)
	}
	switch {
	case !slices.Contains(noAnswerAction, n.Action):
		es.Add("no_answer.action", "must be drop, employee, department or voicemail (got %q)", n.Action)
	case n.Action == NoAnswerEmployee || n.Action == NoAnswerDepartment:
		if n.TargetID == nil || *n.TargetID <= 0 {
			es.Add("no_answer.target_id", "is required when action is %s", n.Action)
		}
	case n.TargetID != nil:
		es.Add("no_answer.target_id", "must be empty unless action is employee or department")
	}
	return n
}

// Input returns e as the input that would recreate it, for applying a patch
// to. Its Password is empty (kept).
func (e Employee) Input() EmployeeInput {
	in := EmployeeInput{
		Email: e.Email, FullName: e.FullName, Login: e.Login, Position: e.Position, Role: e.Role,
		Extension: e.Extension, DepartmentID: e.DepartmentID, Mobile: e.Mobile,
		MainContacts: slices.Clone(e.MainContacts), OtherContacts: slices.Clone(e.OtherContacts),
		Devices: e.Devices, MobileDelayS: e.MobileDelayS, SIPStatus: e.SIPStatus,
		Schedule: []SlotInput{}, Absences: []AbsenceInput{},
	}
	na := e.NoAnswer
	in.NoAnswer = &na
	enabled := e.Enabled
	in.Enabled = &enabled
	for _, s := range e.Schedule {
		in.Schedule = append(in.Schedule, SlotInput{Weekday: []byte(fmt.Sprint(int(s.Weekday))), Start: s.Start, End: s.End})
	}
	for _, a := range e.Absences {
		in.Absences = append(in.Absences, AbsenceInput{
			Kind: a.Kind, StartsAt: a.StartsAt.Format(timeLayout), EndsAt: a.EndsAt.Format(timeLayout), Redirect: a.Redirect,
		})
	}
	return in
}

func orDefault(s, def string) string {
	if s = strings.TrimSpace(s); s == "" {
		return def
	}
	return s
}

// reason returns a mapping error's message without the package name.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), "mapping: ")
}
