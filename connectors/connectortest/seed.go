package connectortest

import (
	"fmt"

	"github.com/crmsync/crmsync/connectors"
)

// The numbers Seed stores.
const (
	// Phone is held by several records, each in a different format.
	Phone = "+79161234567"
	// UnknownPhone is held by nobody.
	UnknownPhone = "+79990000000"
	// SeedUsers is how many users Seed adds: enough for several pages.
	SeedUsers = 600
)

// Seed fills b with the suite's data: SeedUsers users (ids "1"…, every
// seventh inactive) and records that hold Phone in different formats, plus
// near-misses a full-text search also returns:
//
//	contacts 10001 "+7 (916) 123-45-67" (user 2), 10002 "8 916 123 45 67" (user 3),
//	         10003 "79161234567" (user 4);
//	near     10004 "+49 79161234567", 10005 "+7 916 123-45-678",
//	         10007 title "Order 9161234567"; other 10006 "+1 415 555 0132";
//	deals    20001 open (user 10) → 10001, 20002 won (user 11) → 10003,
//	         20003 → 10004, 20004 → 10007;
//	leads    30001 (user 14) → 10002, 30002 junk (user 15) → 10001, 30003 → 10005.
//
// Deals and leads hold no phones of their own (as in amoCRM and HubSpot):
// they match through their linked contacts; leads also carry a copy, for
// CRMs whose leads have phone fields. Want returns the expected matches.
func Seed(b *Backend) {
	users := make([]connectors.User, SeedUsers)
	for i := range users {
		n := i + 1
		users[i] = connectors.User{
			ID:     fmt.Sprint(n),
			Name:   fmt.Sprintf("User %03d", n),
			Email:  fmt.Sprintf("user%03d@example.com", n),
			Active: n%7 != 0,
		}
	}
	b.AddUsers(users...)
	contact := func(id, title, resp string, phones ...string) Record {
		return Record{Entity: connectors.Entity{Kind: connectors.KindContact, ID: id, Title: title,
			ResponsibleUserID: resp, Phones: phones}}
	}
	linked := func(kind connectors.EntityKind, id, title, resp string, closed bool, links ...string) Record {
		return Record{Entity: connectors.Entity{Kind: kind, ID: id, Title: title,
			ResponsibleUserID: resp, Closed: closed}, Links: links}
	}
	lead := func(r Record, phones ...string) Record { r.Phones = phones; return r }
	b.AddRecords(
		contact("10001", "Ivan Petrov", "2", "+7 (916) 123-45-67"),
		contact("10002", "Anna Smirnova", "3", "8 916 123 45 67", "+7 495 000-00-00"),
		contact("10003", "Oleg Ivanov", "4", "79161234567"),
		contact("10004", "Hans Müller", "5", "+49 79161234567"),
		contact("10005", "Petr Sidorov", "6", "+7 916 123-45-678"),
		contact("10006", "John Smith", "8", "+1 415 555 0132"),
		contact("10007", "Order 9161234567", "9", "+7 903 111-22-33"),
		linked(connectors.KindDeal, "20001", "Open deal", "10", false, "10001"),
		linked(connectors.KindDeal, "20002", "Won deal", "11", true, "10003"),
		linked(connectors.KindDeal, "20003", "Near-miss deal", "12", false, "10004"),
		linked(connectors.KindDeal, "20004", "Title near-miss deal", "13", false, "10007"),
		lead(linked(connectors.KindLead, "30001", "New lead", "14", false, "10002"), "8 916 123 45 67"),
		lead(linked(connectors.KindLead, "30002", "Junk lead", "15", true, "10001"), "+7 (916) 123-45-67"),
		lead(linked(connectors.KindLead, "30003", "Near-miss lead", "16", false, "10005"), "+7 916 123-45-678"),
	)
}

// Match is the part of a found Entity the suite checks.
type Match struct {
	Kind              connectors.EntityKind
	ID                string
	ResponsibleUserID string
	Closed            bool
}

// Want returns what FindByPhone(kind, Phone) must find in a seeded Backend.
func Want(kind connectors.EntityKind) []Match {
	switch kind {
	case connectors.KindContact:
		return []Match{{kind, "10001", "2", false}, {kind, "10002", "3", false}, {kind, "10003", "4", false}}
	case connectors.KindDeal:
		return []Match{{kind, "20001", "10", false}, {kind, "20002", "11", true}}
	case connectors.KindLead:
		return []Match{{kind, "30001", "14", false}, {kind, "30002", "15", true}}
	}
	return nil
}
