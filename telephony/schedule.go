package telephony

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// timeLayout is how absence times travel: RFC 3339.
const timeLayout = time.RFC3339

// SlotInput is a schedule slot as the client sends it. Weekday is a number
// 0–6 (0 = Sunday) or an English day name ("monday", "Mon").
type SlotInput struct {
	Weekday json.RawMessage `json:"weekday"`
	Start   string          `json:"start"` // "09:00"
	End     string          `json:"end"`   // "18:00"; "24:00" is midnight
}

// AbsenceInput is an absence as the client sends it; times are RFC 3339.
type AbsenceInput struct {
	Kind     string  `json:"kind"`
	StartsAt string  `json:"starts_at"`
	EndsAt   string  `json:"ends_at"`
	Redirect *Target `json:"redirect,omitempty"`
}

var weekdayNames = map[string]time.Weekday{}

func init() {
	for d := time.Sunday; d <= time.Saturday; d++ {
		name := strings.ToLower(d.String())
		weekdayNames[name] = d
		weekdayNames[name[:3]] = d
	}
}

// ParseWeekday reads a weekday as a JSON number 0–6 (0 = Sunday) or an
// English name or three-letter abbreviation in any case.
func ParseWeekday(raw json.RawMessage) (time.Weekday, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if n < 0 || n > 6 {
			return 0, fmt.Errorf("must be 0–6 (0 = Sunday) or a day name, got %d", n)
		}
		return time.Weekday(n), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if d, ok := weekdayNames[strings.ToLower(strings.TrimSpace(s))]; ok {
			return d, nil
		}
		if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 6 {
			return time.Weekday(n), nil
		}
	}
	return 0, fmt.Errorf("must be 0–6 (0 = Sunday) or a day name such as monday, got %s", raw)
}

// ParseClock reads a time of day "HH:MM" (00:00 to 24:00) as minutes since
// midnight.
func ParseClock(s string) (int, bool) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(m) != 2 || len(h) < 1 || len(h) > 2 {
		return 0, false
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, false
	}
	return hh*60 + mm, true
}

// FormatClock writes minutes since midnight as "HH:MM".
func FormatClock(min int) string { return fmt.Sprintf("%02d:%02d", min/60, min%60) }

// Minutes returns the slot's start and end as minutes since midnight; a
// malformed time reads as 0.
func (s Slot) Minutes() (start, end int) {
	start, _ = ParseClock(s.Start)
	end, _ = ParseClock(s.End)
	return start, end
}

// String writes the slot for messages, e.g. "monday 09:00–18:00".
func (s Slot) String() string {
	return fmt.Sprintf("%s %s–%s", strings.ToLower(s.Weekday.String()), s.Start, s.End)
}

// normalizeSchedule checks each slot (end after start) and that slots of the
// same day do not overlap. A slot that crosses midnight is two slots.
func normalizeSchedule(es *Errors, in []SlotInput) []Slot {
	out := []Slot{}
	if len(in) > MaxScheduleSlots {
		es.Add("schedule", "must have at most %d slots", MaxScheduleSlots)
		return out
	}
	var fields []string
	for i, si := range in {
		field := fmt.Sprintf("schedule[%d]", i)
		ok := true
		var day time.Weekday
		if len(si.Weekday) == 0 || string(si.Weekday) == "null" {
			es.Add(field+".weekday", "is required (0–6, 0 = Sunday, or a day name)")
			ok = false
		} else if d, err := ParseWeekday(si.Weekday); err != nil {
			es.Add(field+".weekday", "%s", err)
			ok = false
		} else {
			day = d
		}
		start, okStart := ParseClock(si.Start)
		if !okStart || start == 24*60 {
			es.Add(field+".start", "must be a time of day as HH:MM, 00:00 to 23:59 (got %q)", si.Start)
			ok = false
		}
		end, okEnd := ParseClock(si.End)
		switch {
		case !okEnd:
			es.Add(field+".end", "must be a time of day as HH:MM, 00:01 to 24:00 (got %q)", si.End)
			ok = false
		case okStart && end <= start:
			es.Add(field+".end", "must be after start (%s); split a slot that crosses midnight in two", FormatClock(start))
			ok = false
		}
		if !ok {
			continue
		}
		s := Slot{Weekday: day, Start: FormatClock(start), End: FormatClock(end)}
		for j, prev := range out {
			ps, pe := prev.Minutes()
			if prev.Weekday == day && start < pe && ps < end {
				es.Add(field+".start", "overlaps %s (%s)", fields[j], prev)
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
			fields = append(fields, field)
		}
	}
	return out
}

// normalizeAbsences checks each absence (known kind, ends after it starts,
// a well-formed redirect) and that absences do not overlap.
func normalizeAbsences(es *Errors, in []AbsenceInput) []Absence {
	out := []Absence{}
	if len(in) > MaxAbsences {
		es.Add("absences", "must have at most %d entries", MaxAbsences)
		return out
	}
	var fields []string
	for i, ai := range in {
		field := fmt.Sprintf("absences[%d]", i)
		ok := true
		a := Absence{Kind: strings.TrimSpace(ai.Kind), Redirect: ai.Redirect}
		if a.Kind != AbsenceVacation && a.Kind != AbsenceSickLeave && a.Kind != AbsenceOther {
			es.Add(field+".kind", "must be vacation, sick_leave or other (got %q)", ai.Kind)
			ok = false
		}
		var err error
		if a.StartsAt, err = time.Parse(timeLayout, strings.TrimSpace(ai.StartsAt)); err != nil {
			es.Add(field+".starts_at", "must be an RFC 3339 time such as 2025-07-01T09:00:00+03:00 (got %q)", ai.StartsAt)
			ok = false
		}
		if a.EndsAt, err = time.Parse(timeLayout, strings.TrimSpace(ai.EndsAt)); err != nil {
			es.Add(field+".ends_at", "must be an RFC 3339 time such as 2025-07-14T18:00:00+03:00 (got %q)", ai.EndsAt)
			ok = false
		} else if !a.StartsAt.IsZero() && !a.EndsAt.After(a.StartsAt) {
			es.Add(field+".ends_at", "must be after starts_at")
			ok = false
		}
		a.StartsAt, a.EndsAt = a.StartsAt.UTC(), a.EndsAt.UTC()
		if r := a.Redirect; r != nil {
			if r.Kind != TargetEmployee && r.Kind != TargetDepartment {
				es.Add(field+".redirect.kind", "must be employee or department (got %q)", r.Kind)
			}
			if r.ID <= 0 {
				es.Add(field+".redirect.id", "is required")
			}
		}
		if !ok {
			continue
		}
		for j, prev := range out {
			if a.StartsAt.Before(prev.EndsAt) && prev.StartsAt.Before(a.EndsAt) {
				es.Add(field+".starts_at", "overlaps %s (%s to %s)", fields[j],
					prev.StartsAt.Format(timeLayout), prev.EndsAt.Format(timeLayout))
				ok = false
				break
			}
		}
		if ok {
			out = append(out, a)
			fields = append(fields, field)
		}
	}
	return out
}

// AbsentAt returns the absence under way at t, or nil. An absence is under
// way from StartsAt (inclusive) to EndsAt (exclusive), so it ends by itself.
func (e Employee) AbsentAt(t time.Time) *Absence {
	for i := range e.Absences {
		a := &e.Absences[i]
		if !t.Before(a.StartsAt) && t.Before(a.EndsAt) {
			return a
		}
	}
	return nil
}

// InScheduleAt reports whether t falls in the employee's weekly schedule,
// read in loc (the tenant's time zone). An empty schedule is always on.
func (e Employee) InScheduleAt(t time.Time, loc *time.Location) bool {
	if len(e.Schedule) == 0 {
		return true
	}
	if loc == nil {
		loc = time.UTC
	}
	local := t.In(loc)
	min := local.Hour()*60 + local.Minute()
	for _, s := range e.Schedule {
		start, end := s.Minutes()
		if s.Weekday == local.Weekday() && min >= start && min < end {
			return true
		}
	}
	return false
}
