package telephony

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/mapping"
)

// Employee roles (the PBX's access levels).
const (
	RoleAdministrator  = "administrator"
	RoleDepartmentHead = "department_head"
	RoleUser           = "user"
	RoleRestrictedUser = "restricted_user"
)

// Devices an employee accepts calls on.
const (
	DevicesSIP    = "sip"    // desk phone and softphone only
	DevicesMobile = "mobile" // the personal mobile only
	DevicesAll    = "all"    // both; the mobile after MobileDelayS
)

// SIP account states, as the PBX reports them.
const (
	SIPNotCreated = "not_created"
	SIPOffline    = "offline"
	SIPOnline     = "online"
)

// No-answer actions.
const (
	NoAnswerDrop       = "drop"
	NoAnswerEmployee   = "employee"
	NoAnswerDepartment = "department"
	NoAnswerVoicemail  = "voicemail"
)

// Absence kinds.
const (
	AbsenceVacation  = "vacation"
	AbsenceSickLeave = "sick_leave"
	AbsenceOther     = "other"
)

// Target kinds: what a no-answer rule or an absence redirects to.
const (
	TargetEmployee   = "employee"
	TargetDepartment = "department"
)

// Directory limits and defaults.
const (
	// IncludedSeats active employees are in the base price; each further
	// one is billable.
	IncludedSeats = 3

	// ExtensionMin and ExtensionMax bound automatically assigned
	// extensions (employees and departments share the range); a chosen
	// extension may be any 2 to 6 digits that is not an emergency number.
	ExtensionMin = 100
	ExtensionMax = 999

	MinPasswordLen   = 8  // characters
	MaxPasswordBytes = 72 // bcrypt ignores anything longer
	MaxNameLen       = 200
	MaxPositionLen   = 200
	MaxLabelLen      = 200
	MaxContacts      = 20 // per list (main, other)
	MaxScheduleSlots = 50
	MaxAbsences      = 100

	MaxMobileDelayS         = 120
	MinNoAnswerTimeoutS     = 5
	MaxNoAnswerTimeoutS     = 300
	DefaultNoAnswerTimeoutS = 30
)

// Employee is a person in a tenant's PBX directory, as the API shows it.
// Its password is write-only and never part of it.
type Employee struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"` // lowercase; never changes
	FullName  string `json:"full_name"`
	Login     string `json:"login"` // tenant prefix + "_" + name, e.g. 19079_ivan
	Position  string `json:"position"`
	Role      string `json:"role"`
	Extension string `json:"extension"`
	// DepartmentID is nil when the employee is in no department.
	DepartmentID *int64 `json:"department_id"`
	Mobile       string `json:"mobile"` // E.164 or ""
	// MainContacts are forwarded to, in order: E.164 numbers and SIP URIs.
	MainContacts []string `json:"main_contacts"`
	// OtherContacts are never forwarded to; they only recognise who
	// answered or called.
	OtherContacts []string  `json:"other_contacts"`
	Devices       string    `json:"devices"`
	MobileDelayS  int       `json:"mobile_delay_s"`
	NoAnswer      NoAnswer  `json:"no_answer"`
	Schedule      []Slot    `json:"schedule"` // empty: always available
	Absences      []Absence `json:"absences"`
	Enabled       bool      `json:"enabled"` // the "working" switch
	SIPStatus     string    `json:"sip_status"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// NoAnswer is what happens to a direct call the employee does not answer
// within TimeoutS seconds.
type NoAnswer struct {
	TimeoutS int    `json:"timeout_s"`
	Action   string `json:"action"` // drop | employee | department | voicemail
	// TargetID is the employee or department for those actions, else nil.
	TargetID *int64 `json:"target_id"`
}

// DefaultNoAnswer is the rule of an employee who has none set.
func DefaultNoAnswer() NoAnswer {
	return NoAnswer{TimeoutS: DefaultNoAnswerTimeoutS, Action: NoAnswerDrop}
}

// Slot is one working period of the weekly schedule, in the tenant's time
// zone. Start and End are "HH:MM"; End may be "24:00" and is exclusive.
type Slot struct {
	Weekday time.Weekday `json:"weekday"` // 0 = Sunday
	Start   string       `json:"start"`
	End     string       `json:"end"`
}

// Absence is a period (vacation, sick leave) during which the employee takes
// no calls. It ends by itself at EndsAt.
type Absence struct {
	Kind     string    `json:"kind"` // vacation | sick_leave | other
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"` // exclusive
	// Redirect is where direct calls go meanwhile; nil means the PBX's
	// normal scheme.
	Redirect *Target `json:"redirect"`
}

// Target names an employee or a department.
type Target struct {
	Kind string `json:"kind"` // employee | department
	ID   int64  `json:"id"`
}

// Department groups employees and has an extension of its own.
type Department struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Extension string    `json:"extension"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// DepartmentInput is what creating or replacing a department takes. An
// empty Extension is assigned on create and kept on update.
type DepartmentInput struct {
	Name      string `json:"name"`
	Extension string `json:"extension"`
}

// PhoneNumber is a DID the tenant owns; a number belongs to one tenant.
type PhoneNumber struct {
	ID        int64     `json:"id"`
	Number    string    `json:"number"` // E.164
	Label     string    `json:"label"`
	CreatedAt time.Time `json:"created_at"`
}

// NumberInput is what adding a phone number takes.
type NumberInput struct {
	Number string `json:"number"`
	Label  string `json:"label"`
}

// Seats counts the tenant's paid workplaces.
type Seats struct {
	Included int `json:"included"`
	Active   int `json:"active"`   // employees not deleted and enabled
	Billable int `json:"billable"` // active beyond the included ones
}

// NewSeats returns the seats of a tenant with active active employees.
func NewSeats(active int) Seats {
	return Seats{Included: IncludedSeats, Active: active, Billable: max(0, active-IncludedSeats)}
}

// EmployeeFilter narrows an employee listing.
type EmployeeFilter struct {
	DepartmentID *int64 // only members of this department
	Query        string // substring of the full name or email, any case
}

// Rules are the tenant settings the directory rules depend on.
type Rules struct {
	Prefix    string   // login prefix, e.g. 19079
	Region    string   // default region of phone numbers written without a country code
	Emergency []string // numbers no extension may be
}

// RulesFor returns the rules of tenant t.
func RulesFor(t Tenant) Rules {
	return Rules{Prefix: t.Prefix, Region: t.Region, Emergency: mapping.DefaultEmergencyNumbers}
}

// Normalize trims and checks a department: a name (unique per tenant, which
// the store enforces) and an extension if one is chosen.
func (in DepartmentInput) Normalize(r Rules) (DepartmentInput, error) {
	var es Errors
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.Name == "":
		es.Add("name", "is required")
	case utf8.RuneCountInString(in.Name) > MaxNameLen:
		es.Add("name", "must be at most %d characters", MaxNameLen)
	}
	in.Extension = strings.TrimSpace(in.Extension)
	if in.Extension != "" {
		if err := mapping.ValidExtension(in.Extension, r.Emergency); err != nil {
			es.Add("extension", "%s", reason(err))
		}
	}
	return in, es.Err()
}

// Normalize checks a phone number and writes it in E.164, read in the
// tenant's region when it has no country code.
func (in NumberInput) Normalize(r Rules) (NumberInput, error) {
	var es Errors
	in.Label = strings.TrimSpace(in.Label)
	if strings.TrimSpace(in.Number) == "" {
		es.Add("number", "is required")
	} else if e164, err := mapping.E164(in.Number, r.Region); err != nil {
		es.Add("number", "%s", reason(err))
	} else {
		in.Number = e164
	}
	if utf8.RuneCountInString(in.Label) > MaxLabelLen {
		es.Add("label", "must be at most %d characters", MaxLabelLen)
	}
	return in, es.Err()
}
