package web

import (
	"context"
	"net/http"
	"strconv"

	"github.com/crmsync/crmsync/telephony"
)

// Directory is what the server needs of the PBX directory: employees,
// departments, phone numbers and seats. Every method is scoped to the tenant
// given first; an id of another tenant is ENotFound. Writes return
// telephony.Errors listing every invalid field, EConflict naming a taken
// field, or EPrecondition for a delete that needs force.
type Directory interface {
	Seats(ctx context.Context, tenantID int64) (telephony.Seats, error)

	CreateEmployee(ctx context.Context, tenantID int64, in telephony.EmployeeInput) (telephony.Employee, error)
	Employee(ctx context.Context, tenantID, id int64) (telephony.Employee, error)
	Employees(ctx context.Context, tenantID int64, f telephony.EmployeeFilter) ([]telephony.Employee, error)
	UpdateEmployee(ctx context.Context, tenantID, id int64, in telephony.EmployeeInput) (telephony.Employee, error)
	PatchEmployee(ctx context.Context, tenantID, id int64, p telephony.EmployeePatch) (telephony.Employee, error)
	DeleteEmployee(ctx context.Context, tenantID, id int64, force bool) error

	CreateDepartment(ctx context.Context, tenantID int64, in telephony.DepartmentInput) (telephony.Department, error)
	Department(ctx context.Context, tenantID, id int64) (telephony.Department, error)
	Departments(ctx context.Context, tenantID int64) ([]telephony.Department, error)
	UpdateDepartment(ctx context.Context, tenantID, id int64, in telephony.DepartmentInput) (telephony.Department, error)
	DeleteDepartment(ctx context.Context, tenantID, id int64, force bool) error

	CreateNumber(ctx context.Context, tenantID int64, in telephony.NumberInput) (telephony.PhoneNumber, error)
	Numbers(ctx context.Context, tenantID int64) ([]telephony.PhoneNumber, error)
	DeleteNumber(ctx context.Context, tenantID, id int64) error
}

// directoryRoutes registers the directory API; api wraps each handler in
// authentication.
func (s *Server) directoryRoutes(api func(string, func(http.ResponseWriter, *http.Request))) {
	api("GET /api/v1/employees", s.handleListEmployees)
	api("POST /api/v1/employees", s.handleCreateEmployee)
	api("GET /api/v1/employees/{id}", s.handleGetEmployee)
	api("PUT /api/v1/employees/{id}", s.handlePutEmployee)
	api("PATCH /api/v1/employees/{id}", s.handlePatchEmployee)
	api("DELETE /api/v1/employees/{id}", s.handleDeleteEmployee)

	api("GET /api/v1/departments", s.handleListDepartments)
	api("POST /api/v1/departments", s.handleCreateDepartment)
	api("GET /api/v1/departments/{id}", s.handleGetDepartment)
	api("PUT /api/v1/departments/{id}", s.handlePutDepartment)
	api("DELETE /api/v1/departments/{id}", s.handleDeleteDepartment)

	api("GET /api/v1/numbers", s.handleListNumbers)
	api("POST /api/v1/numbers", s.handleCreateNumber)
	api("DELETE /api/v1/numbers/{id}", s.handleDeleteNumber)
}

// pathID reads the {id} path value. A malformed id names no record, so it
// is ENotFound like an id of another tenant.
func pathID(r *http.Request, what string) (int64, error) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return 0, telephony.Errorf(telephony.ENotFound, "", "%s %q not found", what, raw)
	}
	return id, nil
}

// forceParam reads ?force=true.
func forceParam(r *http.Request) (bool, error) {
	raw := r.URL.Query().Get("force")
	if raw == "" {
		return false, nil
	}
	force, err := strconv.ParseBool(raw)
	if err != nil {
		return false, telephony.Errorf(telephony.EInvalid, "force", "must be true or false")
	}
	return force, nil
}

// created writes v with 201 and its Location.
func created(w http.ResponseWriter, location string, v any) {
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusCreated, v)
}
