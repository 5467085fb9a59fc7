package web

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/crmsync/crmsync/telephony"
)

// handleListEmployees serves GET /api/v1/employees[?department_id=&q=].
func (s *Server) handleListEmployees(w http.ResponseWriter, r *http.Request) {
	var f telephony.EmployeeFilter
	if raw := r.URL.Query().Get("department_id"); raw != "" {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			Error(w, r, telephony.Errorf(telephony.EInvalid, "department_id", "must be a department id"))
			return
		}
		f.DepartmentID = &id
	}
	f.Query = r.URL.Query().Get("q")
	es, err := s.Directory.Employees(r.Context(), tenantFrom(r).ID, f)
	if err != nil {
		Error(w, r, err)
		return
	}
	if es == nil {
		es = []telephony.Employee{}
	}
	writeJSON(w, http.StatusOK, es)
}

// handleCreateEmployee serves POST /api/v1/employees.
func (s *Server) handleCreateEmployee(w http.ResponseWriter, r *http.Request) {
	in, err := readEmployee(w, r)
	if err != nil {
		Error(w, r, err)
		return
	}
	e, err := s.Directory.CreateEmployee(r.Context(), tenantFrom(r).ID, in)
	if err != nil {
		Error(w, r, err)
		return
	}
	created(w, fmt.Sprintf("/api/v1/employees/%d", e.ID), e)
}

// handleGetEmployee serves GET /api/v1/employees/{id}.
func (s *Server) handleGetEmployee(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "employee")
	if err != nil {
		Error(w, r, err)
		return
	}
	e, err := s.Directory.Employee(r.Context(), tenantFrom(r).ID, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// handlePutEmployee serves PUT /api/v1/employees/{id}: the body replaces
// every editable field (omitted ones take their defaults, except email,
// login, extension, password and sip_status, which are kept).
func (s *Server) handlePutEmployee(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "employee")
	if err != nil {
		Error(w, r, err)
		return
	}
	in, err := readEmployee(w, r)
	if err != nil {
		Error(w, r, err)
		return
	}
	e, err := s.Directory.UpdateEmployee(r.Context(), tenantFrom(r).ID, id, in)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// handlePatchEmployee serves PATCH /api/v1/employees/{id}: only the fields
// in the body change.
func (s *Server) handlePatchEmployee(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "employee")
	if err != nil {
		Error(w, r, err)
		return
	}
	var p telephony.EmployeePatch
	if err := readJSON(w, r, &p); err != nil {
		Error(w, r, err)
		return
	}
	e, err := s.Directory.PatchEmployee(r.Context(), tenantFrom(r).ID, id, p)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// handleDeleteEmployee serves DELETE /api/v1/employees/{id}[?force=true].
func (s *Server) handleDeleteEmployee(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "employee")
	if err != nil {
		Error(w, r, err)
		return
	}
	force, err := forceParam(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := s.Directory.DeleteEmployee(r.Context(), tenantFrom(r).ID, id, force); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readEmployee decodes a full employee body. It goes through EmployeePatch
// so that a body read from GET (with id and timestamps) can be sent back.
func readEmployee(w http.ResponseWriter, r *http.Request) (telephony.EmployeeInput, error) {
	var p telephony.EmployeePatch
	if err := readJSON(w, r, &p); err != nil {
		return telephony.EmployeeInput{}, err
	}
	return p.Apply(telephony.EmployeeInput{})
}
