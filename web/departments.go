package web

import (
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/telephony"
)

// handleListDepartments serves GET /api/v1/departments.
func (s *Server) handleListDepartments(w http.ResponseWriter, r *http.Request) {
	ds, err := s.Directory.Departments(r.Context(), tenantFrom(r).ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	if ds == nil {
		ds = []telephony.Department{}
	}
	writeJSON(w, http.StatusOK, ds)
}

// handleCreateDepartment serves POST /api/v1/departments.
func (s *Server) handleCreateDepartment(w http.ResponseWriter, r *http.Request) {
	var in telephony.DepartmentInput
	if err := readJSON(w, r, &in); err != nil {
		Error(w, r, err)
		return
	}
	d, err := s.Directory.CreateDepartment(r.Context(), tenantFrom(r).ID, in)
	if err != nil {
		Error(w, r, err)
		return
	}
	created(w, fmt.Sprintf("/api/v1/departments/%d", d.ID), d)
}

// handleGetDepartment serves GET /api/v1/departments/{id}.
func (s *Server) handleGetDepartment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "department")
	if err != nil {
		Error(w, r, err)
		return
	}
	d, err := s.Directory.Department(r.Context(), tenantFrom(r).ID, id)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// handlePutDepartment serves PUT /api/v1/departments/{id}; an omitted
// extension is kept.
func (s *Server) handlePutDepartment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "department")
	if err != nil {
		Error(w, r, err)
		return
	}
	var in departmentBody
	if err := readJSON(w, r, &in); err != nil {
		Error(w, r, err)
		return
	}
	d, err := s.Directory.UpdateDepartment(r.Context(), tenantFrom(r).ID, id, in.DepartmentInput)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// departmentBody is a PUT body: the editable fields, plus the read-only ones
// a client may send back from GET (ignored).
type departmentBody struct {
	telephony.DepartmentInput
	ID        any `json:"id"`
	CreatedAt any `json:"created_at"`
	UpdatedAt any `json:"updated_at"`
}

// handleDeleteDepartment serves DELETE /api/v1/departments/{id}[?force=true].
func (s *Server) handleDeleteDepartment(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "department")
	if err != nil {
		Error(w, r, err)
		return
	}
	force, err := forceParam(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := s.Directory.DeleteDepartment(r.Context(), tenantFrom(r).ID, id, force); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
