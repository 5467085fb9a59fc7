package main

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony/routing"
	"github.com/crmsync/crmsync/telephony/siprouter"
	"github.com/crmsync/crmsync/web"
)

// Interface guards: the parts meet here (STYLE §3.2).
var (
	_ siprouter.Resolver    = (*routing.Resolver)(nil)
	_ siprouter.Recorder    = (*routing.Recorder)(nil)
	_ routing.Directory     = (*store.DB)(nil)
	_ routing.DecisionStore = (*store.DB)(nil)
	_ routing.Connections   = (*connectors.Resolver)(nil)
	_ web.Router            = (*routing.Resolver)(nil)
	_ web.Decisions         = (*store.DB)(nil)
	_ web.DecisionRecorder  = (*routing.Recorder)(nil)
	_ web.Invalidator       = (*routing.Invalidator)(nil)
	_ web.HookAccounts      = (*store.DB)(nil)
	_ web.HookConnectors    = (*connectors.Resolver)(nil)
	_ web.TokenRevoker      = (*connectors.Resolver)(nil)
)

// openRouter runs the SIP smart-forwarding router: the resolver (caches,
// CRM lookups, invalidation subscription), the decision recorder and the
// SIP server, closed in reverse order.
func openRouter(ctx context.Context, m *Main) error {
	rp, err := routingFor(ctx, m)
	if err != nil {
		return err
	}
	srv := &siprouter.Server{
		Addr:       m.Config.SIPAddr,
		Trusted:    m.Config.SIPTrustedCIDRs,
		Resolver:   rp.Resolver,
		Recorder:   rp.Recorder,
		Registerer: rp.Registry,
		Logger:     m.Logger,
	}
	if err := srv.Open(); err != nil {
		return fmt.Errorf("sip router: %w", err)
	}
	m.onClose(srv.Close)
	return nil
}

// routingParts is what smart forwarding needs in a process, built once and
// shared by the router and web roles (one cache, one subscription):
// web's route tester asks the same resolver the SIP router does.
type routingParts struct {
	Connectors  *connectors.Resolver
	Resolver    *routing.Resolver
	Recorder    *routing.Recorder
	Invalidator *routing.Invalidator
	// Registry holds the crmsync_routing_* and crmsync_router_* metrics:
	// the process's registry.
	Registry *prometheus.Registry
}

// Web returns the web server's Routing.
func (rp *routingParts) Web(db *store.DB) web.Routing {
	return web.Routing{
		Router: rp.Resolver, Decisions: db, Recorder: rp.Recorder, Invalidator: rp.Invalidator,
		HookAccounts: db, HookConnectors: rp.Connectors,
	}
}

// routingFor returns m's routingParts, opening them on first use; they
// close with m.
func routingFor(ctx context.Context, m *Main) (*routingParts, error) {
	if m.routing != nil {
		return m.routing, nil
	}
	rp := &routingParts{Registry: m.Metrics}
	rp.Connectors = &connectors.Resolver{Accounts: m.DB, OAuth: oauthApps(m.Config), Redis: m.Redis}
	rp.Resolver = &routing.Resolver{
		Directory:   m.DB,
		Connections: rp.Connectors,
		Redis:       m.Redis,
		Registerer:  rp.Registry,
		Logger:      m.Logger,
	}
	if err := rp.Resolver.Open(ctx); err != nil {
		return nil, err
	}
	m.onClose(rp.Resolver.Close)
	rp.Recorder = &routing.Recorder{Store: m.DB, Registerer: rp.Registry, Logger: m.Logger}
	if err := rp.Recorder.Open(); err != nil {
		return nil, err
	}
	m.onClose(rp.Recorder.Close)
	rp.Invalidator = &routing.Invalidator{Redis: m.Redis}
	m.routing = rp
	return rp, nil
}
