package siprouter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/telephony"
)

// MustOpenServer opens a Server on a free loopback port with its own
// metrics registry; options adjust it before Open.
func MustOpenServer(tb testing.TB, r Resolver, options ...func(*Server)) (*Server, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	s := &Server{Addr: "127.0.0.1:0", Resolver: r, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range options {
		o(s)
	}
	if err := s.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, reg
}

// metricValue sums the samples of a counter or gauge whose labels include
// the given ones.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	var v float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for k, want := range labels {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == k && l.GetValue() == want
				}
				if !found {
					continue next
				}
			}
			v += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return v
}

// udpPeer is a bare UDP socket playing the PBX.
type udpPeer struct {
	c   *net.UDPConn
	dst netip.AddrPort
}

func dialUDP(tb testing.TB, dst netip.AddrPort) *udpPeer {
	tb.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return &udpPeer{c: c, dst: dst}
}

// via is a top Via for requests from p, answered to its source port.
func (p *udpPeer) via(branch string) string {
	return "SIP/2.0/UDP " + p.c.LocalAddr().String() + ";branch=" + branch + ";rport"
}

func (p *udpPeer) send(tb testing.TB, r request) {
	tb.Helper()
	if _, err := p.c.WriteToUDPAddrPort([]byte(r.text()), p.dst); err != nil {
		tb.Fatal(err)
	}
}

// recv waits up to d for a response; nil when none came.
func (p *udpPeer) recv(tb testing.TB, d time.Duration) *sip.Response {
	tb.Helper()
	buf := make([]byte, 4096)
	_ = p.c.SetReadDeadline(time.Now().Add(d))
	n, err := p.c.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		tb.Fatal(err)
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		tb.Fatalf("unparsable answer: %v\n%s", err, buf[:n])
	}
	res, ok := msg.(*sip.Response)
	if !ok {
		tb.Fatalf("got a request: %s", buf[:n])
	}
	return res
}

// mustRecv is recv that fails the test when nothing comes within 5s.
func (p *udpPeer) mustRecv(tb testing.TB) *sip.Response {
	tb.Helper()
	res := p.recv(tb, 5*time.Second)
	if res == nil {
		tb.Fatal("no answer within 5s")
	}
	return res
}

func TestServer_Open(t *testing.T) {
	s, _ := MustOpenServer(t, &fakeResolver{})
	if s.UDPAddr().Port() == 0 || s.UDPAddr().Port() != s.TCPAddr().Port() {
		t.Errorf("UDP %s and TCP %s: want one non-zero port", s.UDPAddr(), s.TCPAddr())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := (&Server{Addr: "127.0.0.1:0"}).Open(); err == nil {
		t.Error("Open without a Resolver succeeded")
	}
}

// TestServer_SipgoClient sends INVITE and OPTIONS from a sipgo client, over
// UDP and TCP; the client's transaction layer also sends the ACK.
func TestServer_SipgoClient(t *testing.T) {
	r := tableResolver(map[string]telephony.Decision{knownCaller: routed("+380671110001", "sip:alice@pbx.example.com")})
	s, reg := MustOpenServer(t, r)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-pbx"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ua.Close() })
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}

	for _, transport := range []string{"udp", "tcp"} {
		t.Run(strings.ToUpper(transport), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			params := sip.NewParams()
			params.Add("transport", transport)
			uri := sip.Uri{Scheme: "sip", User: "+380441234567", Host: "127.0.0.1", Port: int(s.UDPAddr().Port()),
				UriParams: params}
			req := sip.NewRequest(sip.INVITE, uri)
			tag := sip.NewParams()
			tag.Add("tag", "t-"+transport)
			req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: knownCaller, Host: "pbx.example.com"},
				Params: tag})

			res, err := client.Do(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 302 {
				t.Fatalf("status = %d, want 302", res.StatusCode)
			}
			want := []string{"<sip:+380671110001@127.0.0.1;user=phone>;q=1.0", "<sip:alice@pbx.example.com>;q=0.9"}
			if diff := cmp.Diff(want, headerValues(res, "Contact")); diff != "" {
				t.Errorf("Contact (-want +got):\n%s", diff)
			}

			opts := sip.NewRequest(sip.OPTIONS, uri)
			res, err = client.Do(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || len(headerValues(res, "Allow")) != 1 {
				t.Errorf("OPTIONS: %d, Allow %v; want 200 with Allow", res.StatusCode, headerValues(res, "Allow"))
			}
		})
	}
	_ = s.Close() // waits for the handlers, which count after answering
	if got := metricValue(t, reg, "crmsync_router_decisions_total", map[string]string{"outcome": "routed", "path": "stateless"}); got != 2 {
		t.Errorf("routed stateless decisions = %v, want 2", got)
	}
}

// TestServer_SlowLookup: a miss gets 100 Trying at once, retransmissions
// start no second lookup, and the answer follows when the resolver returns.
func TestServer_SlowLookup(t *testing.T) {
	release := make(chan struct{})
	r := &fakeResolver{ResolveFn: func(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
		<-release
		return routed("+380671110001")
	}}
	s, reg := MustOpenServer(t, r)
	pbx := dialUDP(t, s.UDPAddr())
	invite := request{Via: pbx.via("z9hG4bK-slow")}

	pbx.send(t, invite)
	if res := pbx.mustRecv(t); res.StatusCode != 100 {
		t.Fatalf("first answer %d, want 100 Trying", res.StatusCode)
	}
	pbx.send(t, invite) // retransmission while the lookup runs
	if res := pbx.mustRecv(t); res.StatusCode != 100 {
		t.Fatalf("retransmission answered %d, want 100 again", res.StatusCode)
	}
	close(release)
	res := pbx.mustRecv(t)
	if res.StatusCode != 302 {
		t.Fatalf("final answer %d, want 302", res.StatusCode)
	}
	if _, resolved := r.calls(); len(resolved) != 1 {
		t.Errorf("Resolve called %d times, want 1", len(resolved))
	}
	pbx.send(t, request{Method: "ACK", CSeq: "1 ACK", Via: pbx.via("z9hG4bK-slow")})
	_ = s.Close() // waits for the lookup, which counts after answering
	if got := metricValue(t, reg, "crmsync_router_decisions_total", map[string]string{"path": "transaction"}); got != 1 {
		t.Errorf("transaction decisions = %v, want 1", got)
	}
}

func TestServer_CancelUDP(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	r := &fakeResolver{ResolveFn: func(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
		<-release
		return routed("+380671110001")
	}}
	s, reg := MustOpenServer(t, r)
	pbx := dialUDP(t, s.UDPAddr())
	pbx.send(t, request{Via: pbx.via("z9hG4bK-c")})
	if res := pbx.mustRecv(t); res.StatusCode != 100 {
		t.Fatalf("answer %d, want 100", res.StatusCode)
	}

	pbx.send(t, request{Method: "CANCEL", Via: pbx.via("z9hG4bK-c")})

	got := []string{}
	for range 2 {
		res := pbx.mustRecv(t)
		got = append(got, fmt.Sprintf("%d %s", res.StatusCode, res.CSeq().MethodName))
	}
	if diff := cmp.Diff([]string{"200 CANCEL", "487 INVITE"}, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	pbx.send(t, request{Method: "ACK", CSeq: "1 ACK", Via: pbx.via("z9hG4bK-c")})
	_ = s.Close() // waits for the handlers, which count after answering
	if v := metricValue(t, reg, "crmsync_router_cancelled_total", nil); v != 1 {
		t.Errorf("cancelled = %v, want 1", v)
	}
}

func TestServer_Untrusted(t *testing.T) {
	r := tableResolver(map[string]telephony.Decision{knownCaller: routed("+380671110001")})
	s, reg := MustOpenServer(t, r, func(s *Server) {
		s.Trusted = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})

	t.Run("UDP", func(t *testing.T) {
		pbx := dialUDP(t, s.UDPAddr())
		pbx.send(t, request{Via: pbx.via("z9hG4bK-u")})
		if res := pbx.recv(t, 300*time.Millisecond); res != nil {
			t.Fatalf("untrusted source answered %d", res.StatusCode)
		}
	})
	t.Run("TCP", func(t *testing.T) {
		c, err := net.Dial("tcp", s.TCPAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = c.Write([]byte(request{}.text()))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 100)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
		}
	})
	if got := metricValue(t, reg, "crmsync_router_dropped_total", map[string]string{"reason": "untrusted"}); got != 2 {
		t.Errorf("dropped untrusted = %v, want 2", got)
	}
	if _, resolved := r.calls(); len(resolved) != 0 {
		t.Errorf("resolver consulted for an untrusted source")
	}
}

func isReset(err error) bool { return err != nil && strings.Contains(err.Error(), "reset") }

// TestServer_ClosePending: Close answers calls still waiting on the
// resolver before the sockets close.
func TestServer_ClosePending(t *testing.T) {
	started := make(chan struct{})
	r := &fakeResolver{ResolveFn: func(ctx context.Context, q telephony.RouteQuery) telephony.Decision {
		close(started)
		<-ctx.Done()
		return routed("+380671110001") // too late: the router has given up
	}}
	s, _ := MustOpenServer(t, r)
	pbx := dialUDP(t, s.UDPAddr())
	pbx.send(t, request{Via: pbx.via("z9hG4bK-close")})
	if res := pbx.mustRecv(t); res.StatusCode != 100 {
		t.Fatalf("answer %d, want 100", res.StatusCode)
	}
	<-started

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	res := pbx.mustRecv(t)
	if res.StatusCode != 404 || !strings.Contains(strings.Join(headerValues(res, reasonHeader), ""), "in time") {
		t.Errorf("answer %d %v, want 404 with a reason saying the lookup ran out of time", res.StatusCode, headerValues(res, reasonHeader))
	}
}

func TestServer_Metrics(t *testing.T) {
	_, reg := MustOpenServer(t, &fakeResolver{})
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
		if !strings.HasPrefix(f.GetName(), "crmsync_router_") {
			t.Errorf("metric %s lacks the crmsync_router_ prefix", f.GetName())
		}
	}
	for _, want := range []string{"crmsync_router_decisions_total", "crmsync_router_decision_seconds",
		"crmsync_router_cache_lookups_total", "crmsync_router_dropped_total"} {
		if !slices.Contains(names, want) {
			t.Errorf("metric %s missing; have %v", want, names)
		}
	}
	// A second server on the same registry is refused, not half-registered.
	s2 := &Server{Addr: "127.0.0.1:0", Resolver: &fakeResolver{}, Registerer: reg}
	if err := s2.Open(); err == nil {
		_ = s2.Close()
		t.Error("a second Server registered the same metrics")
	}
}

func TestServer_IPv6(t *testing.T) {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	_ = c.Close()
	r := tableResolver(map[string]telephony.Decision{knownCaller: routed("+380671110001")})
	s, _ := MustOpenServer(t, r, func(s *Server) { s.Addr = "[::1]:0" })
	pbx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer pbx.Close()
	p := &udpPeer{c: pbx, dst: s.UDPAddr()}
	p.send(t, request{URI: "sip:+380441234567@[::1]", Via: p.via("z9hG4bK-v6")})

	res := p.mustRecv(t)
	if res.StatusCode != 302 {
		t.Fatalf("answer %d, want 302", res.StatusCode)
	}
	if diff := cmp.Diff([]string{"<sip:+380671110001@[::1];user=phone>;q=1.0"}, headerValues(res, "Contact")); diff != "" {
		t.Errorf("Contact (-want +got):\n%s", diff)
	}
}
