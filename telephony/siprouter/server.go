// Package siprouter answers the PBX's INVITEs with the caller's responsible
// manager: a 302 whose Contacts are the manager's main contacts, or the
// tenant's fallback (404/480) so the PBX runs its normal scheme. It is the
// only package that imports sipgo.
//
// The router is a redirect server and keeps no dialogs. A call whose
// decision is cached is answered statelessly (RFC 3261 §8.2.7, §16.11):
// the response is built from the request and written straight back on the
// transport, with no transaction, goroutine or timer; the ACK for that
// 3xx/4xx is absorbed, and a retransmitted INVITE simply gets the same
// answer again (the To-tag is derived from the request, so it is the same
// too). Only a call that must wait on the CRM gets a server transaction:
// 100 Trying at once, the final answer when the resolver returns, and
// retransmissions, ACK and CANCEL matched to it.
//
// sipgo's Server and UserAgent are not used: a UserAgent always creates a
// transaction layer that subscribes to every message and makes a server
// transaction (5 s of lingering state over UDP) per INVITE. The router
// reads its UDP socket itself (serveUDP), lets a bare sip.TransportLayer
// read TCP, handles messages from both in handle, and creates sip.ServerTx
// itself for cache misses only. A UDP INVITE with a cached answer does not
// reach sipgo's parser at all: the fast path (fastpath.go) reads the few
// headers the answer needs from the datagram and copies them into it.
package siprouter

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/crmsync/crmsync/telephony"
)

// Defaults for Server fields left zero.
const (
	// DefaultAddr is CRMSYNC_SIP_ADDR's default.
	DefaultAddr = "127.0.0.1:5060"
	// DefaultMaxWait is telephony.MaxDeadline plus a margin: a resolver
	// keeps the tenant's deadline itself, so this only catches one that
	// overruns it.
	DefaultMaxWait = time.Duration(telephony.MaxDeadline)*time.Millisecond + time.Second
)

// defaultTrusted is used when Server.Trusted is empty: loopback only.
var defaultTrusted = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("::1/128"),
}

// Server is the SIP routing endpoint the PBX sends INVITEs to. Set the
// fields, then call Open; Close stops it. The fields must not change after
// Open.
type Server struct {
	// Addr is the host:port to listen on, UDP and TCP on the same port.
	// Port 0 picks a free port (the same for both); see UDPAddr, TCPAddr.
	// Empty: DefaultAddr.
	Addr string
	// Trusted are the PBX networks. Only sources inside get answers; any
	// other datagram is dropped unparsed and a TCP connection from outside
	// is closed at once, both counted in crmsync_router_dropped_total.
	// Trusted sources may assert the caller (P-Asserted-Identity) and the
	// tenant (X-Crmsync-Tenant). Empty: loopback only.
	Trusted []netip.Prefix
	// Resolver decides where calls go. Required.
	Resolver Resolver
	// Recorder, when set, is told every decision answered, after the answer
	// went out.
	Recorder Recorder
	// Registerer receives the crmsync_router_* metrics; nil: no metrics.
	Registerer prometheus.Registerer
	// Logger defaults to slog.Default().
	Logger *slog.Logger

	// ContactHost is the host given to contacts that are bare E.164
	// numbers: "+380441234567" becomes sip:+380441234567@ContactHost;user=phone.
	// Empty: the host of the INVITE's Request-URI (the PBX's domain as it
	// addressed the router). Contacts that are already sip:, sips: or tel:
	// URIs are sent as they are.
	ContactHost string
	// MaxWait bounds how long a call that missed the cache waits on
	// Resolve, should the resolver overrun its own deadline; the call then
	// gets a not_found fallback. Zero: DefaultMaxWait.
	MaxWait time.Duration
	// UDPReaders is how many goroutines read (and answer on) the UDP
	// socket. Zero: GOMAXPROCS.
	UDPReaders int

	log     *slog.Logger
	trusted []netip.Prefix
	m       *metrics

	udp     *net.UDPConn
	udpConn *sip.UDPConnection // udp, as the connection of UDP transactions
	raw     *rawSender         // stateless UDP answers; nil: through the runtime
	tcpLn   *net.TCPListener
	tcp     sync.Map // remote addr string → *tcpConn, for stateless writes
	tp      *sip.TransportLayer

	// write sends a response's bytes back to where req came from; newTx
	// makes the server transaction for a cache miss. Tests replace both.
	write func(req *sip.Request, b []byte) error
	// writeUDP sends the fast path's answers (fastpath.go).
	writeUDP func(b []byte, dst netip.AddrPort) error
	newTx    func(req *sip.Request, key string) (serverTx, error)

	pending pendingCalls

	ctx    context.Context // ends on Close; parent of every Resolve call
	cancel context.CancelFunc
	serve  sync.WaitGroup // socket readers

	closeOnce sync.Once
}

// Open binds the sockets and starts answering. It does not block.
func (s *Server) Open() error {
	if err := s.init(); err != nil {
		return err
	}
	if err := s.listen(); err != nil {
		s.m.unregister(s.Registerer)
		return err
	}
	s.write = s.writeNet
	s.writeUDP = s.sendUDP
	s.newTx = s.newNetTx
	parser := sip.NewParser()
	s.tp = sip.NewTransportLayer(net.DefaultResolver, parser, nil, sip.WithTransportLayerLogger(s.log))
	s.tp.OnMessage(s.onMessage)
	s.udpConn = &sip.UDPConnection{PacketConn: s.udp, PacketAddr: s.udp.LocalAddr().String(), Listener: true}
	s.raw = newRawSender(s.udp)

	readers := s.UDPReaders
	if readers <= 0 {
		readers = runtime.GOMAXPROCS(0)
	}
	// Each reader reads a datagram, parses it and answers it inline, so the
	// answering scales over cores.
	for range readers {
		s.serve.Go(func() { s.serveErr("udp", s.serveUDP(parser)) })
	}
	s.serve.Go(func() { s.serveErr("tcp", s.tp.ServeTCP(tcpListener{s.tcpLn, s})) })
	s.log.Info("sip router listening", "addr", s.UDPAddr().String(), "transports", "udp,tcp")
	return nil
}

// init checks the fields and sets up everything but the sockets; handler
// tests stop here.
func (s *Server) init() error {
	if s.Resolver == nil {
		return errors.New("siprouter: Server.Resolver is required")
	}
	s.log = s.Logger
	if s.log == nil {
		s.log = slog.Default()
	}
	trusted := s.Trusted
	if len(trusted) == 0 {
		trusted = defaultTrusted
	}
	s.trusted = make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		s.trusted[i] = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-unmapBits(p)).Masked()
	}
	s.m = newMetrics()
	if err := s.m.register(s.Registerer); err != nil {
		return err
	}
	s.pending.m = make(map[string]*pendingCall)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return nil
}

// unmapBits is how many prefix bits an IPv4-mapped IPv6 prefix loses when
// unmapped (96), so ::ffff:10.0.0.0/104 matches 10.0.0.0/8.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return 96
	}
	return 0
}

func (s *Server) serveErr(network string, err error) {
	if err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Error("sip router stopped serving", "network", network, "error", err)
	}
}

// UDPAddr is the bound UDP address (useful with port 0).
func (s *Server) UDPAddr() netip.AddrPort {
	if s.udp == nil {
		return netip.AddrPort{}
	}
	return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TCPAddr is the bound TCP address; its port equals UDPAddr's.
func (s *Server) TCPAddr() netip.AddrPort {
	if s.tcpLn == nil {
		return netip.AddrPort{}
	}
	return s.tcpLn.Addr().(*net.TCPAddr).AddrPort()
}

// Close stops the server: calls waiting on the resolver get their answer
// (a fallback if it does not come at once) while the sockets are still
// open, then the sockets close, transactions end and queued decisions are
// recorded. It is safe to call more than once; a closed Server cannot be
// opened again. Its metrics stay registered with their final values.
func (s *Server) Close() error {
	s.closeOnce.Do(s.close)
	return nil
}

func (s *Server) close() {
	if s.cancel == nil {
		return // never opened
	}
	s.pending.shut()
	s.cancel()
	s.pending.lookups.Wait()

	if s.tcpLn != nil {
		_ = s.tcpLn.Close()
	}
	if s.udp != nil {
		_ = s.udp.Close()
	}
	s.serve.Wait() // the UDP readers and the TCP accept loop have returned
	s.pending.terminateAll()
	// Closing the accepted connections ends sipgo's TCP readers, which then
	// release them. sipgo's TransportLayer.Close is not used: it zeroes the
	// connections' reference counts before those readers release them and
	// logs "TCP ref went negative" for each; the router made no other
	// connections for it to close.
	s.tcp.Range(func(_, c any) bool {
		_ = c.(*tcpConn).Close()
		return true
	})
	// The metrics stay registered: their final values remain visible.
}

// maxWait is MaxWait or its default.
func (s *Server) maxWait() time.Duration {
	if s.MaxWait > 0 {
		return s.MaxWait
	}
	return DefaultMaxWait
}
