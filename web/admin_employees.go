package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/telephony"
)

// employeeRow is one employee on the employees page.
type employeeRow struct {
	telephony.Employee
	Department string
	Schedule   string // "Mon 09:00–18:00, …", "" for always
	Absence    string // the current absence and its redirect, ""
}

type employeesView struct {
	Rows       []employeeRow
	Department string // a department head's department
	ReadOnly   bool
	Seats      telephony.Seats
}

// handleAdminEmployees serves GET /admin/employees.
func (s *Server) handleAdminEmployees(w http.ResponseWriter, r *http.Request) {
	v := viewerFrom(r)
	emps, err := s.visibleEmployees(r)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	all, err := s.Directory.Employees(r.Context(), v.Tenant.ID, telephony.EmployeeFilter{})
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	deps, err := s.Directory.Departments(r.Context(), v.Tenant.ID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	names := targetNames(all, deps)
	ev := employeesView{ReadOnly: !v.Admin()}
	if ev.Seats, err = s.Directory.Seats(r.Context(), v.Tenant.ID); err != nil {
		s.pageError(w, r, err)
		return
	}
	if !v.Admin() {
		ev.Department = s.departmentName(r, v.Employee.DepartmentID)
	}
	now := s.Admin.now()
	for _, e := range emps {
		row := employeeRow{Employee: e, Schedule: scheduleText(e.Schedule)}
		if e.DepartmentID != nil {
			for _, d := range deps {
				if d.ID == *e.DepartmentID {
					row.Department = d.Name
				}
			}
		}
		for _, a := range e.Absences {
			if !now.Before(a.StartsAt) && now.Before(a.EndsAt) {
				row.Absence = fmt.Sprintf("%s until %s", titleWord(a.Kind), a.EndsAt.In(v.Tenant.Location()).Format("2006-01-02 15:04"))
				if a.Redirect != nil {
					row.Absence += ", calls go to " + names[a.Redirect.Kind+":"+fmt.Sprint(a.Redirect.ID)]
				}
			}
		}
		ev.Rows = append(ev.Rows, row)
	}
	s.render(w, r, http.StatusOK, "employees", pageData{Title: "Employees", Nav: "employees", Page: ev})
}

// targetNames names employees and departments by "kind:id".
func targetNames(es []telephony.Employee, ds []telephony.Department) map[string]string {
	out := map[string]string{}
	for _, e := range es {
		out["employee:"+fmt.Sprint(e.ID)] = e.FullName
	}
	for _, d := range ds {
		out["department:"+fmt.Sprint(d.ID)] = d.Name + " (department)"
	}
	return out
}

var weekdayShort = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// scheduleText summarises a weekly schedule, joining consecutive days
// with the same hours: "Mon–Fri 09:00–18:00".
func scheduleText(slots []telephony.Slot) string {
	type run struct {
		from, to   time.Weekday
		start, end string
	}
	var runs []run
	for _, sl := range slots {
		if n := len(runs); n > 0 && runs[n-1].to+1 == sl.Weekday && runs[n-1].start == sl.Start && runs[n-1].end == sl.End {
			runs[n-1].to = sl.Weekday
			continue
		}
		runs = append(runs, run{sl.Weekday, sl.Weekday, sl.Start, sl.End})
	}
	parts := make([]string, len(runs))
	for i, r := range runs {
		days := weekdayShort[r.from%7]
		if r.to != r.from {
			days += "–" + weekdayShort[r.to%7]
		}
		parts[i] = fmt.Sprintf("%s %s–%s", days, r.start, r.end)
	}
	return strings.Join(parts, ", ")
}

// deleteView is the warning before deleting an employee others depend on.
type deleteView struct {
	Employee telephony.Employee
	Warning  string
}

// handleAdminDeleteEmployee serves POST /admin/employees/{id}/delete. An
// employee who is linked to a CRM user (a responsible manager there) or is
// another employee's forwarding target is not deleted at once: the page
// warns with every dependent and offers "Delete anyway" (force=1).
func (s *Server) handleAdminDeleteEmployee(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "employee")
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	tenantID := tenantFrom(r).ID
	e, err := s.Directory.Employee(r.Context(), tenantID, id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	force := r.PostForm.Get("force") == "1"
	err = s.Directory.DeleteEmployee(r.Context(), tenantID, id, force)
	var te *telephony.Error
	if errors.As(err, &te) && te.Code == telephony.EPrecondition && !force {
		warning := strings.TrimSuffix(strings.TrimSuffix(te.Message, "; pass ?force=true to delete anyway"), ".")
		s.render(w, r, http.StatusConflict, "employee_delete", pageData{Title: "Delete " + e.FullName + "?", Nav: "employees",
			Page: deleteView{Employee: e, Warning: warning}})
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.changed(r)
	s.setFlash(w, "ok", e.FullName+" was deleted; calls and history keep pointing at them.")
	http.Redirect(w, r, "/admin/employees", http.StatusSeeOther)
}
