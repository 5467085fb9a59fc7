// Package connectortest is the test kit every CRM connector shares: an
// in-memory CRM (Backend) that each vendor fake serves from, fault
// injection, a conformance suite (Run) every connector must pass against its
// own httptest fake, and an in-memory Connector (Fake) for the tests of
// packages that use connectors (jobs, telephony).
//
// It is a normal package so that vendor fakes (amocrm/amocrmtest,
// hubspot/hubspottest, …), integration tests and the demo sandbox can use it;
// only Run needs a *testing.T.
//
// # Writing a vendor fake
//
// A vendor fake is an http.Handler that speaks the vendor's real paths, JSON
// and errors and keeps no state of its own: it reads and writes a *Backend.
// Every API handler starts with
//
//	if b.Intercept(w, r, errorBody) {
//		return // an injected fault answered (or the client went away)
//	}
//
// which counts the request and applies the next injected Fault, writing
// errorBody(status) (the vendor's error JSON) for status faults; faults
// apply in the order injected, one per request (Fault.Times for more), and
// an empty Fault{} lets one request through, so Inject(Fault{}) then
// Inject(Fault{Status: 503}) fails the second request. Then it
// serves from the Backend:
//
//   - Users / AddUsers: the account's users.
//   - Search(kind, query): a full-text search as CRMs do it. It returns
//     near-misses on purpose (a record whose phone merely contains the
//     queried digits, or whose title does), so connectors must re-check
//     hits with connectors.SamePhone.
//   - Records(kind), Record(id), Linked(id, kind): records and their links
//     (a deal's contacts; Record.Company marks organisations, which vendors
//     with a separate company object serve there).
//   - CreateCall / UpdateCall / Calls: call writes, with the id the fake
//     assigned and how many writes hit each record ("one CRM record per call").
//   - CreateTask / Tasks, CreateEntity / Created.
//
// Fakes that implement the vendor's OAuth token endpoint keep the token
// state themselves (it is vendor-specific).
//
// # Running the suite
//
//	func TestConformance(t *testing.T) {
//		connectortest.Run(t, connectortest.Options{Name: "hubspot"},
//			func(t *testing.T, b *connectortest.Backend) connectors.Connector {
//				h, err := hubspottest.NewHandler(b)
//				if err != nil {
//					t.Fatal(err)
//				}
//				srv := httptest.NewServer(h)
//				t.Cleanup(srv.Close)
//				return hubspot.New(connectors.Credentials{BaseURL: srv.URL, HTTPClient: srv.Client()})
//			})
//	}
//
// Run seeds a fresh Backend for every subtest (see Seed for the data and
// the expected answers), then checks ListUsers, FindByPhone for every kind
// in Info.Kinds (and ErrUnsupported or nothing for the others), LogCall
// create-then-update, the optional capabilities the connector has
// (BatchCallLogger, TaskCreator, EntityCreator, OwnedCounter), and the
// error kinds for injected 401, 429 + Retry-After, 500, 400, malformed JSON
// and an answer slower than the context deadline. The connector is built
// with a plain HTTP client, so 401 and 429 surface as error kinds: the
// retrying transport is tested in package connectors.
package connectortest
