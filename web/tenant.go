package web

import (
	"net/http"

	"github.com/crmsync/crmsync/telephony"
)

// tenantView is GET /api/v1/tenant.
type tenantView struct {
	telephony.Tenant
	Seats telephony.Seats `json:"seats"`
}

func (s *Server) handleGetTenant(w http.ResponseWriter, r *http.Request) {
	t := tenantFrom(r)
	seats, err := s.Directory.Seats(r.Context(), t.ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tenantView{Tenant: t, Seats: seats})
}

func (s *Server) handlePutRouting(w http.ResponseWriter, r *http.Request) {
	t := tenantFrom(r)
	var in telephony.Routing
	if err := readJSON(w, r, &in); err != nil {
		Error(w, r, err)
		return
	}
	if err := s.Tenants.UpdateRouting(r.Context(), t.ID, in); err != nil {
		Error(w, r, err)
		return
	}
	t, err := s.Tenants.Tenant(r.Context(), t.ID)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t.Routing)
}
