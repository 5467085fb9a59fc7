package store

import (
	"github.com/crmsync/crmsync/telephony"
)

// ErrNotFound is what formatError makes of sql.ErrNoRows; methods wrap it
// with what was not found.
var ErrNotFound = &telephony.Error{Code: telephony.ENotFound, Message: "not found"}

// notFound returns an ENotFound error naming what is missing.
func notFound(format string, args ...any) error {
	return telephony.Errorf(telephony.ENotFound, "", format, args...)
}

// uniqueFields names, per unique index, the JSON field a conflict is about
// and how to say it.
var uniqueFields = map[string][2]string{
	"tenants_prefix":           {"prefix", "another tenant already uses this prefix"},
	"departments_name":         {"name", "a department with this name already exists"},
	"employees_email":          {"email", "an employee with this email already exists"},
	"employees_name":           {"full_name", "an employee with this full name already exists"},
	"employees_login":          {"login", "this login is taken"},
	"extensions_pkey":          {"extension", "this extension is taken by another employee or department"},
	"phone_numbers_number_key": {"number", "this number is already assigned"},
	"crm_accounts_external":    {"external_id", "this CRM account is already linked"},
	"crm_users_external":       {"external_id", "this CRM user already exists"},
	"employee_links_user":      {"crm_user_id", "this CRM user is already linked"},
	"employee_links_employee":  {"employee_id", "this employee is already linked to another CRM user of the account"},
	"calls_call_id":            {"call_id", "this call already exists"},
	"call_events_idempotency":  {"idempotency_key", "this event was already received"},
}

// sqliteUnique maps the column list SQLite names in a UNIQUE failure to the
// index PostgreSQL would name.
var sqliteUnique = map[string]string{
	"tenants.prefix": "tenants_prefix",
	"departments.tenant_id, departments.name_key":                              "departments_name",
	"employees.tenant_id, employees.email":                                     "employees_email",
	"employees.tenant_id, employees.name_key":                                  "employees_name",
	"employees.login":                                                          "employees_login",
	"extensions.tenant_id, extensions.extension":                               "extensions_pkey",
	"phone_numbers.number":                                                     "phone_numbers_number_key",
	"crm_accounts.tenant_id, crm_accounts.connector, crm_accounts.external_id": "crm_accounts_external",
	"crm_users.account_id, crm_users.external_id":                              "crm_users_external",
	"employee_links.account_id, employee_links.crm_user_id":                    "employee_links_user",
	"employee_links.account_id, employee_links.employee_id":                    "employee_links_employee",
	"calls.tenant_id, calls.call_id":                                           "calls_call_id",
	"call_events.tenant_id, call_events.idempotency_key":                       "call_events_idempotency",
}

func sqliteIndexName(cols string) string { return sqliteUnique[cols] }

// conflict turns a unique violation on index into an EConflict error.
func conflict(index string, cause error) error {
	f, ok := uniqueFields[index]
	if !ok {
		return &telephony.Error{Code: telephony.EConflict, Message: "already exists", Err: cause}
	}
	return &telephony.Error{Code: telephony.EConflict, Field: f[0], Message: f[1], Err: cause}
}
