package routing

import (
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync/telephony"
)

// fallback turns d into the tenant's fallback for reason.
func fallback(d telephony.Decision, s *snapshot, reason string) telephony.Decision {
	d.Outcome = telephony.OutcomeFallback
	d.Fallback = s.fallback
	d.Reason = reason
	d.Contacts = nil
	return d
}

// anonymousReason is the Reason of a withheld caller.
const anonymousReason = "caller withheld their number"

func (r *Resolver) anonymousDecision(c *call, s *snapshot, did string) telephony.Decision {
	if c.explain {
		c.step("caller withheld their number: nothing to look up")
		c.step("→ fallback (%s)", s.fallback)
	}
	return fallback(telephony.Decision{TenantID: s.tenant.ID, DID: did, Cache: telephony.CacheMiss}, s, anonymousReason)
}

// decide turns the CRM's answer into where the call goes: the responsible
// user's linked employee, if they can take the call now; their absence's
// redirect target; or the tenant's fallback, with the reason.
func (r *Resolver) decide(c *call, s *snapshot, did, caller string, a *answer, cache telephony.Cache) telephony.Decision {
	d := telephony.Decision{TenantID: s.tenant.ID, DID: did, Caller: caller, Cache: cache}
	switch {
	case a.invalid:
		if c.explain {
			c.step("→ fallback: the caller is not a phone number")
		}
		return fallback(d, s, fmt.Sprintf("caller %q is not a phone number", c.q.Caller))
	case a.failure != "":
		if c.explain {
			c.step("→ fallback: %s", a.failure)
		}
		return fallback(d, s, a.failure)
	case !a.found:
		if c.explain {
			c.step("→ fallback: %s", s.noMatchReason)
		}
		return fallback(d, s, s.noMatchReason)
	}
	d.AccountID, d.EntityKind, d.EntityID, d.CRMUserID = a.account, string(a.kind), a.entityID, a.crmUser
	link, ok := s.links[linkKey{a.account, a.crmUser}]
	switch {
	case !ok:
		return r.fallbackStep(c, d, s, fmt.Sprintf("CRM user %s has no linked employee", a.crmUser))
	case link.EmployeeID == 0:
		return r.fallbackStep(c, d, s, fmt.Sprintf("CRM user %s is set to no employee", a.crmUser))
	}
	e, ok := s.employees[link.EmployeeID]
	if !ok {
		return r.fallbackStep(c, d, s, fmt.Sprintf("CRM user %s is linked to employee %d, who no longer exists", a.crmUser, link.EmployeeID))
	}
	if c.explain {
		c.step("CRM user %s → employee %s (linked by %s)", a.crmUser, e.FullName, link.Rule)
	}
	d.EmployeeID = e.ID
	if ab := e.AbsentAt(c.now); ab != nil && ab.Redirect != nil && e.Enabled {
		return r.redirect(c, d, s, e, ab)
	}
	return r.available(c, d, s, e)
}

func (r *Resolver) fallbackStep(c *call, d telephony.Decision, s *snapshot, reason string) telephony.Decision {
	if c.explain {
		c.step("→ fallback: %s", reason)
	}
	return fallback(d, s, reason)
}

// available routes d to e when e can take a call now: enabled, not
// absent, inside the schedule in the tenant's time zone, and with a
// contact to forward to (SIP URIs do not count while the PBX reports the
// SIP phone offline).
func (r *Resolver) available(c *call, d telephony.Decision, s *snapshot, e *employee) telephony.Decision {
	if !e.Enabled {
		return r.fallbackStep(c, d, s, e.offReason)
	}
	if ab := e.AbsentAt(c.now); ab != nil {
		return r.fallbackStep(c, d, s, absentReason(e, ab, s.loc))
	}
	if !e.inSchedule(c.now, s.loc) {
		if c.explain {
			c.step("%s is outside working hours now (%s %s)", e.FullName, c.now.In(s.loc).Format("Mon 15:04"), scheduleOf(e, c.now, s))
		}
		return r.fallbackStep(c, d, s, e.outReason)
	}
	contacts := e.contacts
	if e.SIPStatus == telephony.SIPOffline {
		contacts = e.phoneContacts
	}
	if len(contacts) == 0 {
		reason := e.FullName + " has no contacts to forward to"
		if e.SIPStatus == telephony.SIPOffline && len(e.contacts) > 0 {
			reason = e.FullName + "'s SIP phone is offline and there is no phone number to forward to"
		}
		return r.fallbackStep(c, d, s, reason)
	}
	if c.explain {
		c.step("%s is working now (%s)", e.FullName, scheduleOf(e, c.now, s))
		if e.SIPStatus == telephony.SIPOffline {
			c.step("%s's SIP phone is offline: forwarding to phone numbers only", e.FullName)
		}
		c.step("→ 302 to %s", strings.Join(contacts, ", "))
	}
	d.Outcome = telephony.OutcomeRouted
	d.Contacts = contacts
	d.Reason = e.routedReason
	return d
}

// redirect sends d to the absence's target: an employee who can take the
// call now (their own absences are not followed further) or a department,
// by its extension.
func (r *Resolver) redirect(c *call, d telephony.Decision, s *snapshot, e *employee, ab *telephony.Absence) telephony.Decision {
	why := absentReason(e, ab, s.loc)
	if c.explain {
		c.step("%s", why)
	}
	switch ab.Redirect.Kind {
	case telephony.TargetDepartment:
		dept, ok := s.depts[ab.Redirect.ID]
		if !ok || dept.Extension == "" {
			return r.fallbackStep(c, d, s, fmt.Sprintf("%s; the redirect department %d no longer exists", why, ab.Redirect.ID))
		}
		if c.explain {
			c.step("→ 302 to department %s (extension %s)", dept.Name, dept.Extension)
		}
		d.Outcome = telephony.OutcomeRedirect
		d.Contacts = []string{dept.Extension}
		d.Reason = why + "; redirected to department " + dept.Name
		return d
	case telephony.TargetEmployee:
		t, ok := s.employees[ab.Redirect.ID]
		if !ok {
			return r.fallbackStep(c, d, s, fmt.Sprintf("%s; the redirect employee %d no longer exists", why, ab.Redirect.ID))
		}
		td := r.available(c, d, s, t)
		if td.Outcome != telephony.OutcomeRouted {
			return fallback(d, s, why+"; the redirect target cannot take it: "+td.Reason)
		}
		td.Outcome = telephony.OutcomeRedirect
		td.Reason = why + "; redirected to " + t.FullName
		return td
	}
	return r.fallbackStep(c, d, s, why)
}

func absentReason(e *employee, ab *telephony.Absence, loc *time.Location) string {
	return fmt.Sprintf("%s is absent (%s until %s)", e.FullName, strings.ReplaceAll(ab.Kind, "_", " "),
		ab.EndsAt.In(loc).Format("2006-01-02 15:04 MST"))
}

// scheduleOf describes the employee's working hours on the local day of
// now, for the route tester.
func scheduleOf(e *employee, now time.Time, s *snapshot) string {
	if len(e.Schedule) == 0 {
		return "no schedule: always on"
	}
	local := now.In(s.loc)
	var slots []string
	for _, sl := range e.Schedule {
		if sl.Weekday == local.Weekday() {
			slots = append(slots, sl.Start+"–"+sl.End)
		}
	}
	day := local.Weekday().String()[:3]
	if len(slots) == 0 {
		return day + ": no working hours, " + s.loc.String()
	}
	return day + " " + strings.Join(slots, ", ") + " " + s.loc.String()
}

// explainTenant, explainCaller and explainAnswer write the first steps.
func (r *Resolver) explainTenant(c *call, s *snapshot, did string) {
	if c.q.TenantID != 0 {
		c.step("tenant %s (id %d, named by the PBX)", s.tenant.Name, s.tenant.ID)
		return
	}
	c.step("tenant %s (DID %s)", s.tenant.Name, did)
}

func (r *Resolver) explainCaller(c *call, caller string) {
	if caller == c.q.Caller {
		c.step("caller %s", caller)
		return
	}
	c.step("caller %s (from %q)", caller, c.q.Caller)
}

func (r *Resolver) explainAnswer(c *call, s *snapshot, a *answer, cache telephony.Cache, res *lookupResult) {
	if !c.explain || a.invalid {
		return
	}
	var how string
	switch {
	case cache == telephony.CacheLocal:
		how = "in-process cache"
	case cache == telephony.CacheRedis:
		how = "Redis cache"
	case res != nil:
		how = fmt.Sprintf("cache miss, asked the CRM: %d ms", res.took.Milliseconds())
		for _, n := range res.notes {
			c.step("  %s", n)
		}
	}
	switch {
	case a.failure != "":
		c.step("CRM lookup failed — %s", how)
	case !a.found:
		c.step("%s — %s", s.noMatchReason, how)
	default:
		c.step("%s %s (open, responsible CRM user %s) found in %s account %d — %s",
			a.kind, a.entityID, a.crmUser, s.connector[a.account], a.account, how)
	}
}
