package siprouter

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/telephony"
)

// pathResult is what one path did with an INVITE: the query the resolver
// saw, the response's bytes and where they went.
type pathResult struct {
	queries  []telephony.RouteQuery
	response []byte
	dst      netip.AddrPort
	records  []record
}

// fastRoutes is the cache both paths answer from in these tests.
var fastRoutes = map[string]telephony.Decision{
	"+380501112233": routed("+380671110001", "sip:ivan@10.0.0.7:5062", "1042"),
	"0501112233":    routed("+380671110002"),
	"+380931234567": notFound("no lead, deal or contact"),
	"+380441112233": unavailable("manager Ivan is absent"),
	anonymousCaller: notFound("caller withheld their number"),
}

// runFast offers raw to the fast path; taken is false when it left the
// request to the sipgo path.
func runFast(t *testing.T, raw string, src netip.AddrPort, contactHost string) (res pathResult, taken bool) {
	t.Helper()
	r := tableResolver(fastRoutes)
	rec := newFakeRecorder()
	s := &Server{Resolver: r, Recorder: rec, Registerer: prometheus.NewRegistry(), ContactHost: contactHost}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	s.writeUDP = func(b []byte, dst netip.AddrPort) error {
		res.response, res.dst = append([]byte(nil), b...), dst
		return nil
	}
	taken = s.fastInvite([]byte(raw), src)
	res.queries, _ = r.calls()
	if taken {
		res.records = append(res.records, rec.next(t))
	} else if res.response != nil {
		t.Fatalf("the fast path declined the INVITE but sent\n%s", res.response)
	}
	return res, taken
}

// runSipgo answers raw the usual way: sipgo parses it, handle answers.
func runSipgo(t *testing.T, raw string, src netip.AddrPort, contactHost string) (res pathResult, ok bool) {
	t.Helper()
	msg, err := sip.ParseMessage([]byte(raw))
	if err != nil {
		return res, false
	}
	req, isReq := msg.(*sip.Request)
	if !isReq {
		return res, false
	}
	req.SetTransport("UDP")
	req.SetSource(src.String())
	r := tableResolver(fastRoutes)
	rec := newFakeRecorder()
	s := &Server{Resolver: r, Recorder: rec, Registerer: prometheus.NewRegistry(), ContactHost: contactHost}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	s.write = func(req *sip.Request, b []byte) error {
		dst, err := responseAddr(req)
		res.response, res.dst = append([]byte(nil), b...), dst
		return err
	}
	s.handle(req)
	res.queries, _ = r.calls()
	if res.response != nil {
		res.records = append(res.records, rec.next(t))
	}
	return res, res.response != nil
}

// sameAnswer fails t unless both paths asked the same query, recorded
// the same decision, and sent equivalent responses (the fast path copies
// headers as the PBX wrote them; sipgo rewrites them from their parts) to
// the same address.
func sameAnswer(t *testing.T, fast, slow pathResult) {
	t.Helper()
	if diff := cmp.Diff(slow.queries, fast.queries); diff != "" {
		t.Errorf("resolver queries (-sipgo +fast):\n%s", diff)
	}
	if fast.dst != slow.dst {
		t.Errorf("sent to %s, sipgo path to %s", fast.dst, slow.dst)
	}
	// Both record the time to answer (cached decisions have none of their
	// own); the rest must be equal.
	for _, rs := range [][]record{fast.records, slow.records} {
		for i := range rs {
			if rs[i].d.Latency <= 0 {
				t.Errorf("recorded Latency %v, want the time to answer", rs[i].d.Latency)
			}
			rs[i].d.Latency = 0
		}
	}
	if len(fast.records) != len(slow.records) || (len(fast.records) > 0 && (fast.records[0].callID != slow.records[0].callID ||
		!cmp.Equal(fast.records[0].d, slow.records[0].d))) {
		t.Errorf("recorded %+v, sipgo path %+v", fast.records, slow.records)
	}
	if diff := cmp.Diff(responseSummary(t, slow.response), responseSummary(t, fast.response)); diff != "" {
		t.Errorf("response (-sipgo +fast):\n%s\nfast:\n%s\nsipgo:\n%s", diff, fast.response, slow.response)
	}
}

// responseSummary is a response as sipgo reads it, header by header.
func responseSummary(t *testing.T, b []byte) []string {
	t.Helper()
	msg, err := sip.ParseMessage(b)
	if err != nil {
		t.Fatalf("unparsable response: %v\n%s", err, b)
	}
	res := msg.(*sip.Response)
	out := []string{fmt.Sprint(res.StatusCode, " ", res.Reason)}
	params := func(p sip.HeaderParams) string {
		var kv []string
		for _, e := range p {
			kv = append(kv, e.K+"="+e.V)
		}
		slices.Sort(kv)
		return strings.Join(kv, ";")
	}
	for _, h := range res.Headers() {
		switch v := h.(type) {
		case *sip.ViaHeader:
			out = append(out, fmt.Sprintf("Via %s/%s/%s %s:%d %s", v.ProtocolName, v.ProtocolVersion, v.Transport, v.Host, v.Port, params(v.Params)))
		case *sip.FromHeader:
			out = append(out, fmt.Sprintf("From %q %s %s", v.DisplayName, v.Address.String(), params(v.Params)))
		case *sip.ToHeader:
			out = append(out, fmt.Sprintf("To %q %s %s", v.DisplayName, v.Address.String(), params(v.Params)))
		case *sip.CSeqHeader:
			out = append(out, fmt.Sprintf("CSeq %d %s", v.SeqNo, v.MethodName))
		default:
			out = append(out, h.Name()+": "+h.Value())
		}
	}
	return out
}

var pbxSource = netip.MustParseAddrPort("10.1.1.1:5070")

// TestFastInvite_SameAsSipgo: for the INVITEs PBXes send, the fast path
// answers, and answers as the sipgo path does; for the ones it leaves
// alone, the sipgo path answers.
func TestFastInvite_SameAsSipgo(t *testing.T) {
	tests := []struct {
		name     string
		req      request
		raw      string // instead of req
		src      netip.AddrPort
		contact  string // Server.ContactHost
		wantFast bool
	}{
		{name: "Routed", req: request{}, wantFast: true},
		{name: "ContactHost", req: request{}, contact: "pbx.example.net", wantFast: true},
		{name: "NotFound", req: request{From: "<sip:+380931234567@pbx.example.com>;tag=f1"}, wantFast: true},
		{name: "Unavailable", req: request{From: "<sip:+380441112233@pbx.example.com>;tag=f1"}, wantFast: true},
		{name: "NationalCaller", req: request{From: "<sip:0501112233@pbx.example.com>;tag=f1"}, wantFast: true},
		{name: "DisplayName", req: request{From: `"Olena, \"Sales\"" <sip:+380501112233@pbx.example.com>;tag=f1`}, wantFast: true},
		{name: "BareDisplayName", req: request{From: `Olena <sip:+380501112233@pbx.example.com>;tag=f1`}, wantFast: true},
		{name: "UserParams", req: request{From: "<sip:+380501112233;npdi@pbx.example.com;user=phone>;tag=f1"}, wantFast: true},
		{name: "TelFrom", req: request{From: "<tel:+380501112233;phone-context=+380>;tag=f1"}, wantFast: true},
		{name: "PAI", req: request{From: "<sip:100@pbx.example.com>;tag=f1",
			Headers: []string{"P-Asserted-Identity: <sip:+380501112233@pbx.example.com>"}}, wantFast: true},
		{name: "PAITelAndSip", req: request{Headers: []string{"P-Asserted-Identity: <tel:+380931234567>, <sip:+380931234567@pbx>"}}, wantFast: true},
		{name: "PrivacyID", req: request{Headers: []string{"Privacy: id"}}, wantFast: true},
		{name: "AnonymousFrom", req: request{From: `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=f1`}, wantFast: true},
		{name: "AnonymousHostOnly", req: request{From: `<sip:anonymous.invalid>;tag=f1`}, wantFast: true},
		{name: "TenantHeader", req: request{Headers: []string{"X-Crmsync-Tenant: 7"}}, wantFast: true},
		{name: "BadTenantHeader", req: request{Headers: []string{"X-Crmsync-Tenant: seven"}}, wantFast: true},
		{name: "DIDFromTo", req: request{URI: "sip:pbx.example.com", To: "<sip:+380441234567@pbx.example.com>"}, wantFast: true},
		{name: "ToTagged", req: request{To: "<sip:+380441234567@pbx.example.com>;tag=t9"}, wantFast: true},
		{name: "Rport", req: request{Via: "SIP/2.0/UDP 10.1.1.1:5070;rport;branch=z9hG4bK-7"}, src: netip.MustParseAddrPort("192.0.2.9:40000"), wantFast: true},
		{name: "RportWithValue", req: request{Via: "SIP/2.0/UDP 10.1.1.1:5070;rport=5070;branch=z9hG4bK-7"}, src: netip.MustParseAddrPort("192.0.2.9:40000"), wantFast: true},
		{name: "ViaHostIsName", req: request{Via: "SIP/2.0/UDP pbx.example.com;branch=z9hG4bK-7"}, wantFast: true},
		{name: "ViaReceived", req: request{Via: "SIP/2.0/UDP pbx.example.com:5080;received=10.1.1.1;branch=z9hG4bK-7"}, wantFast: true},
		{name: "TwoVias", req: request{Headers: []string{"Via: SIP/2.0/UDP 10.9.9.9:5060;branch=z9hG4bK-proxy"}}, wantFast: true},
		{name: "DualStackSource", req: request{}, src: netip.MustParseAddrPort("[::ffff:10.1.1.1]:5070"), wantFast: true},
		{name: "CompactHeaders", raw: "INVITE sip:+380441234567@pbx.example.com SIP/2.0\r\n" +
			"v: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK-c\r\nf: <sip:+380501112233@pbx.example.com>;tag=f1\r\n" +
			"t: <sip:+380441234567@pbx.example.com>\r\ni: compact-1\r\nCSeq: 7 INVITE\r\nl: 0\r\n\r\n", wantFast: true},
		{name: "LowerCaseNames", raw: "INVITE sip:+380441234567@pbx.example.com SIP/2.0\r\n" +
			"via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK-l\r\nfrom: <sip:+380501112233@pbx.example.com>;tag=f1\r\n" +
			"to: <sip:+380441234567@pbx.example.com>\r\ncall-id: lower-1\r\ncseq: 7 INVITE\r\n\r\n", wantFast: true},
		{name: "WithSDP", raw: "INVITE sip:+380441234567@pbx.example.com SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK-s\r\nFrom: <sip:+380501112233@pbx.example.com>;tag=f1\r\n" +
			"To: <sip:+380441234567@pbx.example.com>\r\nCall-ID: sdp-1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n" +
			"Content-Length: 21\r\n\r\nv=0\r\no=- 1 1 IN IP4 x", wantFast: true},

		// Left to the sipgo path.
		{name: "UnknownCaller", req: request{From: "<sip:+380999999999@pbx.example.com>;tag=f1"}},
		{name: "AddrSpecFrom", req: request{From: "sip:+380501112233@pbx.example.com;tag=f1"}},
		{name: "ViaList", req: request{Via: "SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK-1, SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK-2"}},
		{name: "ViaSpacedParams", req: request{Via: "SIP/2.0/UDP 10.1.1.1:5070 ; rport ; branch=z9hG4bK-7"}}, // sipgo loses the host
		{name: "IPv6Via", req: request{Via: "SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK-1"}},
		{name: "TelRequestURI", req: request{URI: "tel:+380441234567"}},
		{name: "Password", req: request{From: "<sip:+380501112233:secret@pbx.example.com>;tag=f1"}},
		{name: "CSeqMismatch", req: request{CSeq: "1 OPTIONS"}},
		{name: "NoCallID", raw: "INVITE sip:+380441234567@pbx.example.com SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK-n\r\nFrom: <sip:+380501112233@pbx.example.com>;tag=f1\r\n" +
			"To: <sip:+380441234567@pbx.example.com>\r\nCSeq: 1 INVITE\r\n\r\n"},
		{name: "Folded", raw: "INVITE sip:+380441234567@pbx.example.com SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP 10.1.1.1:5070;branch=z9hG4bK-f\r\nFrom: <sip:+380501112233@pbx.example.com>\r\n ;tag=f1\r\n" +
			"To: <sip:+380441234567@pbx.example.com>\r\nCall-ID: fold-1\r\nCSeq: 1 INVITE\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.raw
			if raw == "" {
				raw = tt.req.text()
			}
			src := tt.src
			if !src.IsValid() {
				src = pbxSource
			}
			fast, taken := runFast(t, raw, src, tt.contact)
			if taken != tt.wantFast {
				t.Fatalf("fast path took it: %v, want %v\n%s", taken, tt.wantFast, raw)
			}
			if !taken {
				return // the sipgo path's own tests cover these
			}
			slow, answered := runSipgo(t, raw, src, tt.contact)
			if !answered {
				t.Fatalf("the fast path answered what the sipgo path does not\n%s\nfast:\n%s", raw, fast.response)
			}
			sameAnswer(t, fast, slow)
		})
	}
}

// TestFastInvite_Metrics: an INVITE answered on the fast path counts as
// the sipgo path counts it; a declined one counts nothing.
func TestFastInvite_Metrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := &Server{Resolver: tableResolver(fastRoutes), Registerer: reg}
	if err := s.init(); err != nil {
		t.Fatal(err)
	}
	s.writeUDP = func([]byte, netip.AddrPort) error { return nil }
	if !s.fastInvite([]byte(request{}.text()), pbxSource) {
		t.Fatal("a cached caller was not answered on the fast path")
	}
	unknown := request{From: "<sip:+380999999999@pbx.example.com>;tag=f1"}.text()
	if s.fastInvite([]byte(unknown), pbxSource) {
		t.Fatal("an unknown caller was answered on the fast path")
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"crmsync_router_requests_total", map[string]string{"method": "INVITE"}, 1},
		{"crmsync_router_cache_lookups_total", map[string]string{"result": "hit"}, 1},
		{"crmsync_router_cache_lookups_total", map[string]string{"result": "miss"}, 0},
		{"crmsync_router_decisions_total", map[string]string{"outcome": "routed", "path": pathStateless}, 1},
	} {
		if got := metricValue(t, reg, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// TestServer_FastPathOverUDP: the router's UDP reader sends cached INVITEs
// to the fast path. This INVITE carries a Contact sipgo cannot parse (the
// sipgo path drops it as malformed); the fast path does not read Contact,
// so only it can answer.
func TestServer_FastPathOverUDP(t *testing.T) {
	s, _ := MustOpenServer(t, tableResolver(fastRoutes))
	pbx := dialUDP(t, s.UDPAddr())
	pbx.send(t, request{Via: pbx.via("z9hG4bK-fast"), Headers: []string{"Contact: <sip:pbx@10.1.1.1"}})
	res := pbx.mustRecv(t)
	if res.StatusCode != 302 {
		t.Fatalf("answered %d, want 302 from the fast path", res.StatusCode)
	}
	if got, want := headerValues(res, "Contact")[0], "<sip:+380671110001@pbx.example.com;user=phone>;q=1.0"; got != want {
		t.Errorf("first Contact %q, want %q", got, want)
	}
	// Without the fast path (a transaction pending, say) sipgo's parser
	// takes it, and drops it.
	if _, err := sip.ParseMessage([]byte(request{Headers: []string{"Contact: <sip:pbx@10.1.1.1"}}.text())); err == nil {
		t.Error("sipgo parsed the INVITE: this test no longer shows which path answered")
	}
}

// FuzzFastInvite: whatever the fast path answers, the sipgo path answers
// the same way. The fast path does not read headers its answer does not
// depend on (Contact, Max-Forwards, Content-Type …), where sipgo rejects
// the whole request for one it cannot parse; so when sipgo rejects it,
// the comparison is with the request cut down to the headers the fast
// path reads.
func FuzzFastInvite(f *testing.F) {
	for _, r := range []request{
		{},
		{From: `"Olena" <sip:+380501112233;npdi@pbx.example.com>;tag=f1`},
		{Via: "SIP/2.0/UDP 10.1.1.1:5070;rport;branch=z9hG4bK-7"},
		{Headers: []string{"P-Asserted-Identity: <tel:+380931234567>", "Privacy: none", "X-Crmsync-Tenant: 7"}},
		{URI: "sip:pbx.example.com", To: "<sip:0441234567@pbx.example.com>;tag=x"},
	} {
		f.Add(r.text())
	}
	f.Fuzz(func(t *testing.T, raw string) {
		fast, taken := runFast(t, raw, pbxSource, "")
		if !taken {
			return
		}
		slow, answered := runSipgo(t, raw, pbxSource, "")
		if !answered {
			cut := readHeadersOnly(raw)
			if slow, answered = runSipgo(t, cut, pbxSource, ""); !answered {
				t.Fatalf("the fast path answered what the sipgo path does not\n%q\ncut down to\n%q", raw, cut)
			}
		}
		sameAnswer(t, fast, slow)
	})
}

// readHeadersOnly is raw without the headers the fast path does not read.
func readHeadersOnly(raw string) string {
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	out := lines[:1]
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, ":")
		switch strings.ToLower(strings.TrimRight(name, " \t")) {
		case "via", "v", "from", "f", "to", "t", "call-id", "i", "cseq", "content-length", "l",
			"p-asserted-identity", "privacy", "x-crmsync-tenant":
			out = append(out, l)
		}
	}
	return strings.Join(out, "\r\n") + "\r\n\r\n" + body
}
