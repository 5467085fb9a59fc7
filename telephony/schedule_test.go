package telephony_test

import (
	"encoding/json"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has

	"github.com/crmsync/crmsync/telephony"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestEmployee_InScheduleAt(t *testing.T) {
	kyiv, ny := mustLoad(t, "Europe/Kyiv"), mustLoad(t, "America/New_York")
	weekdays := telephony.Employee{Schedule: []telephony.Slot{
		{Weekday: time.Monday, Start: "09:00", End: "13:00"},
		{Weekday: time.Monday, Start: "14:00", End: "18:00"},
		{Weekday: time.Friday, Start: "09:00", End: "24:00"},
		{Weekday: time.Saturday, Start: "00:00", End: "02:00"},
	}}
	utc := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		e    telephony.Employee
		at   time.Time
		loc  *time.Location
		want bool
	}{
		{"EmptyAlwaysOn", telephony.Employee{}, utc("2025-03-02T03:00:00Z"), kyiv, true},
		// 2025-03-03 is a Monday; Kyiv is UTC+2 in winter.
		{"KyivMorning", weekdays, utc("2025-03-03T07:00:00Z"), kyiv, true},          // 09:00 local
		{"KyivBeforeStart", weekdays, utc("2025-03-03T06:59:00Z"), kyiv, false},     // 08:59
		{"KyivLunch", weekdays, utc("2025-03-03T11:30:00Z"), kyiv, false},           // 13:30
		{"KyivEndExclusive", weekdays, utc("2025-03-03T16:00:00Z"), kyiv, false},    // 18:00
		{"KyivLastMinute", weekdays, utc("2025-03-03T15:59:00Z"), kyiv, true},       // 17:59
		{"SameInstantUTC", weekdays, utc("2025-03-03T07:00:00Z"), time.UTC, false},  // 07:00 UTC
		{"NilLocationIsUTC", weekdays, utc("2025-03-03T09:00:00Z"), nil, true},      // 09:00 UTC
		{"OtherDay", weekdays, utc("2025-03-04T08:00:00Z"), kyiv, false},            // Tuesday 10:00
		{"UntilMidnight", weekdays, utc("2025-03-07T21:59:00Z"), kyiv, true},        // Friday 23:59
		{"AfterMidnightNextDay", weekdays, utc("2025-03-07T22:30:00Z"), kyiv, true}, // Saturday 00:30
		{"WeekdayByLocalDate", weekdays, utc("2025-03-08T00:30:00Z"), kyiv, false},  // Saturday 02:30
		// New York: EST (UTC−5) before 2025-03-09, EDT (UTC−4) after.
		{"NYWinter", weekdays, utc("2025-03-03T14:00:00Z"), ny, true},          // Monday 09:00 EST
		{"NYSummerSameUTC", weekdays, utc("2025-03-10T13:00:00Z"), ny, true},   // Monday 09:00 EDT
		{"NYSummerEarly", weekdays, utc("2025-03-10T12:59:00Z"), ny, false},    // 08:59 EDT
		{"NYSummerWinterUTC", weekdays, utc("2025-03-10T14:00:00Z"), ny, true}, // 10:00 EDT
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.InScheduleAt(tt.at, tt.loc); got != tt.want {
				t.Errorf("InScheduleAt(%s in %v) = %v, want %v", tt.at, tt.loc, got, tt.want)
			}
		})
	}
}

func TestEmployee_AbsentAt(t *testing.T) {
	kyiv := mustLoad(t, "Europe/Kyiv")
	vacation := telephony.Absence{Kind: "vacation",
		StartsAt: time.Date(2025, 7, 1, 0, 0, 0, 0, kyiv), EndsAt: time.Date(2025, 7, 15, 0, 0, 0, 0, kyiv),
		Redirect: &telephony.Target{Kind: "employee", ID: 3}}
	sick := telephony.Absence{Kind: "sick_leave",
		StartsAt: time.Date(2025, 7, 15, 0, 0, 0, 0, kyiv), EndsAt: time.Date(2025, 7, 18, 0, 0, 0, 0, kyiv)}
	e := telephony.Employee{Absences: []telephony.Absence{vacation, sick}}
	tests := []struct {
		name string
		at   time.Time
		want string // kind, "" for none
	}{
		{"Before", time.Date(2025, 6, 30, 20, 59, 59, 0, time.UTC), ""},
		{"AtStart", time.Date(2025, 6, 30, 21, 0, 0, 0, time.UTC), "vacation"}, // midnight in Kyiv (UTC+3)
		{"During", time.Date(2025, 7, 10, 12, 0, 0, 0, time.UTC), "vacation"},
		{"EndExclusiveNextBegins", time.Date(2025, 7, 15, 0, 0, 0, 0, kyiv), "sick_leave"},
		{"EndsByItself", time.Date(2025, 7, 18, 0, 0, 0, 0, kyiv), ""},
		{"OtherZoneSameInstant", time.Date(2025, 7, 17, 23, 59, 0, 0, kyiv).In(time.UTC), "sick_leave"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if a := e.AbsentAt(tt.at); a != nil {
				got = a.Kind
			}
			if got != tt.want {
				t.Errorf("AbsentAt(%s) = %q, want %q", tt.at, got, tt.want)
			}
		})
	}
	if (telephony.Employee{}).AbsentAt(time.Now()) != nil {
		t.Error("no absences: want nil")
	}
}

func TestParseWeekday(t *testing.T) {
	tests := []struct {
		raw     string
		want    time.Weekday
		wantErr bool
	}{
		{`0`, time.Sunday, false},
		{`6`, time.Saturday, false},
		{`"monday"`, time.Monday, false},
		{`"Tuesday"`, time.Tuesday, false},
		{`" WED "`, time.Wednesday, false},
		{`"4"`, time.Thursday, false},
		{`7`, 0, true},
		{`-1`, 0, true},
		{`1.5`, 0, true},
		{`"mo"`, 0, true},
		{`true`, 0, true},
	}
	for _, tt := range tests {
		got, err := telephony.ParseWeekday(json.RawMessage(tt.raw))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseWeekday(%s) = %v, %v; want %v, error %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestParseClock(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"09:00", 540, true}, {"9:05", 545, true}, {"00:00", 0, true}, {"23:59", 1439, true}, {"24:00", 1440, true},
		{"24:01", 0, false}, {"12:60", 0, false}, {"9", 0, false}, {"9:5", 0, false}, {"ab:cd", 0, false}, {"", 0, false},
		{"-1:00", 0, false}, {"123:00", 0, false},
	}
	for _, tt := range tests {
		got, ok := telephony.ParseClock(tt.in)
		if ok != tt.ok || got != tt.want {
			t.Errorf("ParseClock(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && telephony.FormatClock(got) != tt.in && tt.in != "9:05" {
			t.Errorf("FormatClock(%d) = %q, want %q", got, telephony.FormatClock(got), tt.in)
		}
	}
}
