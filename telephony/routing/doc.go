// Package routing is smart forwarding: for an incoming call it finds the
// caller's responsible manager in the tenant's CRM, maps that CRM user to
// an employee, checks the employee can take the call now, and says where
// the call goes (telephony.Decision). Resolver implements
// siprouter.Resolver for the SIP router and Explain for GET /api/v1/route;
// Recorder implements siprouter.Recorder; Invalidator is what web and jobs
// call when something cached changes.
//
// # Who calls, and for whom
//
// The tenant is RouteQuery.TenantID when set (a trusted header, or the
// API key on HTTP), else the tenant owning the called number: the DID as
// sent (E.164, "00…", a sip:/tel: URI, or digits that are E.164 without the
// "+"; national formats only with Resolver.Region). The caller is read in
// the tenant's region (mapping.E164): separators, national formats and
// URIs become E.164. A withheld caller ("anonymous", Privacy: id, …) gets
// the tenant's fallback at once, without a lookup.
//
// # Layers
//
// Cached answers from memory only, without I/O or allocations (a few
// hundred nanoseconds; see BenchmarkResolver_Cached). Its decisions carry
// no Latency: timing them would cost more than a third of the work.
//
//  1. the called number → tenant (raw DIDs as sent; unknown ones for a
//     minute);
//  2. the tenant's snapshot: settings, accounts, links (account, CRM user
//     id) → employee, employees with schedules, absences, SIP status and
//     contacts, departments. It is loaded on first use (a handful of
//     queries, no N+1), dropped on a tenant invalidation, and reloaded in
//     the background after SnapshotTTL (10 min) while the old one serves;
//  3. the CRM's answer for (tenant, caller) in an in-process cache (16
//     shards, LocalSize entries, 100k): the account, entity kind and id,
//     and responsible CRM user — or no match. Answers of E.164 callers
//     with numeric entity ids are packed into maps without pointers, which
//     the GC never scans (answers.go); the rest sit in golang-lru. A match lives
//     LocalTTL (5 min), a no-match LocalNegativeTTL (1 min), a failed
//     lookup ErrorTTL (10 s, so a CRM outage does not make every call wait
//     for the deadline). Hits only peek (a read lock, no reordering), so a
//     full cache evicts the oldest insertion; the TTLs bound age anyway.
//     E.164 callers are keyed by their digits as an integer, other forms
//     through a cache of their normalised form;
//  4. the employee's availability now, in the tenant's time zone.
//
// When anything is missing, Cached says so and Resolve (which the SIP
// router runs behind 100 Trying) fills it: the snapshot from the store,
// the answer from Redis (RedisTTL 30 min for a match, RedisNegativeTTL
// 2 min for a no-match; failures are not shared), then from the CRM.
//
// # The CRM lookup
//
// One lookup per (tenant, caller) runs at a time, whoever waits (single
// flight). It asks every connected account of the tenant for every kind of
// the tenant's order at once (connectors.Connector.FindByPhone), then
// reads the results in the tenant's order: the first kind with an open
// entity that has a responsible user wins, across accounts; several such
// entities → the most recently updated. Closed entities, ones without an
// owner and kinds the CRM lacks (ErrUnsupported) are skipped. Once a kind
// wins, the lookups of later kinds are cancelled. If no kind matched and
// one failed, the lookup failed; if an earlier kind failed and a later one
// matched, the match is used but kept only for the no-match TTLs.
//
// Resolve waits for the lookup until the tenant's deadline (default
// 1500 ms, counted from the start of the call); past it the call gets the
// tenant's fallback ("CRM did not answer within 1500 ms") and the lookup
// goes on in the background, bounded by BackgroundTimeout (10 s), to fill
// both caches for the next call.
//
// # From CRM user to a decision
//
//   - No link for the CRM user, an admin's "no employee", a deleted
//     employee → fallback, saying which.
//   - Absent now with a redirect target → OutcomeRedirect to the target
//     employee's contacts (if they can take it now; their own absences are
//     not followed) or to the target department's extension (the SIP
//     router sends a bare extension as sip:<ext>@<host>;user=phone).
//     Decision.EmployeeID stays the responsible manager's employee.
//   - Disabled, absent without a redirect, outside the weekly schedule in
//     the tenant's zone → fallback with the reason.
//   - Otherwise → OutcomeRouted to the contacts: the main contacts in
//     order, filtered by Devices (sip: only SIP URIs, mobile: only
//     numbers), then the mobile unless Devices is sip. While the PBX
//     reports the SIP phone offline, SIP URIs are left out; with nothing
//     left → fallback.
//
// Every fallback uses the tenant's Fallback answer (not_found → 404,
// unavailable → 480). Decision.Contacts and the Reason of a routed call
// are shared with the snapshot: callers must not modify them.
//
// # Invalidation
//
// Redis pub/sub on Channel ("crmsync:routing:invalidate"), small text
// messages: "tenant:<id>" (reload the snapshot; answers stay),
// "caller:<tenant>:<e164>", "entity:<account>:<kind>:<id>" (the id may
// contain ':') and "account:<id>". Invalidator deletes the Redis answers
// concerned first (found answers are indexed in Redis by entity and by
// account, sets with RedisTTL) and leaves short tombstones so a background
// lookup that began before does not write the old answer back; then it
// publishes. In process, invalidations are tombstones with a sequence
// number: an answer whose lookup began before a tombstone covering it is
// stale, which also catches lookups in flight. A snapshot load that raced
// a tenant invalidation is used once but not kept. A snapshot reload that
// finds a newly connected account drops the tenant's no-match answers
// (other routers may still serve a no-match from Redis for up to
// RedisNegativeTTL). Every Resolver subscribes in Open, before it answers;
// when the subscription is lost and comes back, messages may have been
// missed, so it drops everything in memory.
//
// # Metrics
//
// crmsync_routing_decisions_total{outcome,cache},
// crmsync_routing_decision_seconds{cache}, crmsync_routing_cache_total
// {layer,result}, crmsync_routing_crm_lookups_total{kind,result},
// crmsync_routing_deadline_exceeded_total,
// crmsync_routing_invalidations_total{kind},
// crmsync_routing_pubsub_reconnects_total,
// crmsync_routing_directory_loads_total{what,result} and the Recorder's
// crmsync_routing_records_total{result}. Several Resolvers in one process
// share them.
package routing
