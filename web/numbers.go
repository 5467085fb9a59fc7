package web

import (
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/telephony"
)

// handleListNumbers serves GET /api/v1/numbers.
func (s *Server) handleListNumbers(w http.ResponseWriter, r *http.Request) {
	ns, err := s.Directory.Numbers(r.Context(), tenantFrom(r).ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	if ns == nil {
		ns = []telephony.PhoneNumber{}
	}
	writeJSON(w, http.StatusOK, ns)
}

// handleCreateNumber serves POST /api/v1/numbers.
func (s *Server) handleCreateNumber(w http.ResponseWriter, r *http.Request) {
	var in telephony.NumberInput
	if err := readJSON(w, r, &in); err != nil {
		Error(w, r, err)
		return
	}
	n, err := s.Directory.CreateNumber(r.Context(), tenantFrom(r).ID, in)
	if err != nil {
		Error(w, r, err)
		return
	}
	created(w, fmt.Sprintf("/api/v1/numbers/%d", n.ID), n)
}

// handleDeleteNumber serves DELETE /api/v1/numbers/{id}.
func (s *Server) handleDeleteNumber(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "number")
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := s.Directory.DeleteNumber(r.Context(), tenantFrom(r).ID, id); err != nil {
		Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
