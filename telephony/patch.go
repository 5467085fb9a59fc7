package telephony

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// EmployeePatch is a JSON object of employee fields. Applied to an input it
// replaces exactly the fields it names (a shallow JSON merge patch: a nested
// object such as no_answer, or a list, is replaced whole). It serves PATCH,
// and, applied to an empty input, POST and PUT.
type EmployeePatch map[string]json.RawMessage

// readOnlyFields may appear in a patch (a client sending back what it read)
// and are ignored.
var readOnlyFields = []string{"id", "created_at", "updated_at"}

// Apply returns base with p's fields replaced. Unknown fields and values of
// the wrong JSON type are EInvalid errors naming the field.
func (p EmployeePatch) Apply(base EmployeeInput) (EmployeeInput, error) {
	raw, err := json.Marshal(base)
	if err != nil {
		return EmployeeInput{}, fmt.Errorf("telephony: encode employee input: %w", err)
	}
	merged := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &merged); err != nil {
		return EmployeeInput{}, fmt.Errorf("telephony: decode employee input: %w", err)
	}
	for k, v := range p {
		merged[k] = v
	}
	for _, k := range readOnlyFields {
		delete(merged, k)
	}
	raw, err = json.Marshal(merged)
	if err != nil {
		return EmployeeInput{}, fmt.Errorf("telephony: encode patched input: %w", err)
	}
	var out EmployeeInput
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return EmployeeInput{}, decodeError(err)
	}
	return out, nil
}

// decodeError names the field a JSON decoding error is about.
func decodeError(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return Errorf(EInvalid, typ.Field, "must be a JSON %s, not %s", jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return Errorf(EInvalid, strings.Trim(f, `"`), "unknown field")
	}
	return Errorf(EInvalid, "", "malformed employee: %v", err)
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool", "ptr":
		return "boolean"
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	}
	return "number"
}

// ChangedFields returns the JSON names of the fields that differ between
// two versions of an employee, sorted; timestamps are left out.
func ChangedFields(before, after Employee) []string {
	a, b := jsonFields(before), jsonFields(after)
	var out []string
	for k, v := range a {
		if k != "created_at" && k != "updated_at" && !bytes.Equal(v, b[k]) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func jsonFields(e Employee) map[string]json.RawMessage {
	raw, _ := json.Marshal(e) // an Employee always encodes
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(raw, &m)
	return m
}

// Dependents are the records that still point at an employee or a
// department and would break if it went away.
type Dependents struct {
	CRMUsers   []LinkedCRMUser // employee only: its links to CRM users
	Members    []string        // department only: its employees' names
	NoAnswerOf []string        // employees whose no-answer rule targets it
	RedirectOf []string        // employees whose current or future absence redirects to it
}

// LinkedCRMUser is a CRM user an employee is linked to.
type LinkedCRMUser struct {
	Name      string // as the CRM names the user
	Connector string // e.g. hubspot
	AccountID int64
}

// Empty reports whether nothing depends on the record.
func (d Dependents) Empty() bool {
	return len(d.CRMUsers) == 0 && len(d.Members) == 0 && len(d.NoAnswerOf) == 0 && len(d.RedirectOf) == 0
}

// Refuse returns the EPrecondition error that refuses deleting subject
// (a name) while d is not empty, naming every dependent, e.g. "Ivan Petrov
// is linked to CRM user 'Ivan P.' (hubspot account 3) and is the no-answer
// target of Olga Shevchenko; pass ?force=true to delete anyway".
func (d Dependents) Refuse(subject string) error {
	var clauses []string
	if n := len(d.CRMUsers); n > 0 {
		users := make([]string, n)
		for i, u := range d.CRMUsers {
			users[i] = fmt.Sprintf("'%s' (%s account %d)", u.Name, u.Connector, u.AccountID)
		}
		clauses = append(clauses, fmt.Sprintf("is linked to CRM %s %s", plural(n, "user", "users"), joinAnd(users)))
	}
	if n := len(d.Members); n > 0 {
		clauses = append(clauses, fmt.Sprintf("has %d %s (%s)", n, plural(n, "member", "members"), strings.Join(d.Members, ", ")))
	}
	if len(d.NoAnswerOf) > 0 {
		clauses = append(clauses, "is the no-answer target of "+joinAnd(d.NoAnswerOf))
	}
	if len(d.RedirectOf) > 0 {
		clauses = append(clauses, "is the absence redirect of "+joinAnd(d.RedirectOf))
	}
	return Errorf(EPrecondition, "", "%s %s; pass ?force=true to delete anyway", subject, joinAnd(clauses))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// joinAnd joins "a", "a and b", "a, b and c".
func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}
