package siprouter

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"syscall"

	"github.com/emiago/sipgo/sip"
)

// udpBuffer is the UDP socket buffer size asked for.
const udpBuffer = 4 << 20

// errNoConnection: the TCP connection a request came on is gone.
var errNoConnection = errors.New("siprouter: connection to the PBX is closed")

// listen binds UDP and then TCP on the same port. With port 0 the port
// UDP got may be taken for TCP; then it tries again.
func (s *Server) listen() error {
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return fmt.Errorf("siprouter: Addr %q: want ip:port: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return fmt.Errorf("siprouter: listen udp %s: %w", addr, err)
		}
		port := udp.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		tcpAddr := net.TCPAddrFromAddrPort(netip.AddrPortFrom(ap.Addr(), port))
		ln, err := net.ListenTCP("tcp", tcpAddr)
		if err == nil {
			// A burst of INVITEs overflows the default buffer (~200 KB)
			// while a reader is busy; the kernel caps this at rmem_max.
			_ = udp.SetReadBuffer(udpBuffer)
			_ = udp.SetWriteBuffer(udpBuffer)
			s.udp, s.tcpLn = udp, ln
			return nil
		}
		_ = udp.Close()
		if ap.Port() != 0 || attempt == 10 || !errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("siprouter: listen tcp %s: %w", tcpAddr, err)
		}
	}
}

// isTrusted reports whether a is inside a Trusted prefix.
func (s *Server) isTrusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// maxDatagram is the largest UDP payload.
const maxDatagram = 65535

// serveUDP reads datagrams from the UDP socket, drops what the router does
// not answer and hands the rest to handle, until the socket is closed.
// Several readers on one socket give several answering goroutines; the
// kernel hands each datagram to one of them.
//
// It replaces sipgo's UDP read loop (TransportLayer.ServeUDP), which per
// datagram allocates the source address twice (a net.UDPAddr and its
// String), scans the whole datagram for NUL bytes, and, whenever the
// source port differs from the previous datagram's (several PBX processes,
// or any NAT), registers the source in its connection pool under a lock.
// The router needs none of that: it answers on this socket, and the
// transactions of cache misses get it as their connection (udpConn). On
// Linux it reads with a raw recvfrom (udpReader, recvfrom_linux.go).
//   - Untrusted sources are dropped here, unparsed: cheapest for a flood.
//   - An ACK while no transaction is pending can only belong to a stateless
//     3xx/4xx answer and is absorbed without parsing, which saves about a
//     third of the per-call parsing cost.
//   - An INVITE while no transaction is pending goes to the fast path
//     (fastpath.go), which answers cached callers without sipgo's parser.
func (s *Server) serveUDP(parser *sip.Parser) error {
	buf := make([]byte, maxDatagram)
	read := s.udp.ReadFromUDPAddrPort
	if r := newUDPReader(s.udp, buf); r != nil {
		read = func([]byte) (int, netip.AddrPort, error) { return r.read() }
	}
	for {
		n, src, err := read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err // no read deadline is ever set, so no timeout either
		}
		if !s.isTrusted(src.Addr()) {
			s.m.untrusted.Inc()
			continue
		}
		data := buf[:n]
		if len(bytes.TrimSpace(data)) == 0 {
			continue // a CRLF keep-alive (RFC 5626 §3.5.1)
		}
		if !s.pending.active() {
			if len(data) > 4 && string(data[:4]) == "ACK " {
				s.m.ack.Inc()
				continue
			}
			if len(data) > 7 && string(data[:7]) == "INVITE " && s.fastInvite(data, src) {
				continue
			}
		}
		msg, err := parser.ParseSIP(data) // copies what it keeps: buf is reused
		if err != nil {
			s.m.malformed.Inc()
			s.log.Debug("sip router: unparsable datagram", "source", src.String(), "error", err)
			continue
		}
		msg.SetTransport("UDP")
		msg.SetSource(src.String())
		s.onMessage(msg)
	}
}

// tcpListener closes connections from untrusted sources as they are
// accepted and remembers trusted ones for stateless writes.
type tcpListener struct {
	*net.TCPListener
	s *Server
}

// Accept returns the next connection from a trusted source.
func (l tcpListener) Accept() (net.Conn, error) {
	for {
		c, err := l.TCPListener.Accept()
		if err != nil {
			return nil, err
		}
		ra, _ := c.RemoteAddr().(*net.TCPAddr)
		if ra == nil || !l.s.isTrusted(ra.AddrPort().Addr()) {
			l.s.m.untrusted.Inc()
			_ = c.Close()
			continue
		}
		tc := &tcpConn{Conn: c, key: c.RemoteAddr().String(), conns: &l.s.tcp}
		l.s.tcp.Store(tc.key, tc)
		return tc, nil
	}
}

// tcpConn is an accepted connection. sipgo reads it and owns its life;
// the router writes stateless answers to it directly, found by the
// request's source address. Going through sipgo's connection pool instead
// costs a lock and two reference-count debug logs (whose arguments are
// formatted even when debug logging is off) per answer.
type tcpConn struct {
	net.Conn
	key   string
	conns *sync.Map
	once  sync.Once
}

// Close forgets the connection and closes it.
func (c *tcpConn) Close() error {
	c.once.Do(func() { c.conns.CompareAndDelete(c.key, c) })
	return c.Conn.Close()
}

// writeNet sends b back to where req came from: over TCP on the same
// connection, over UDP per RFC 3261 §18.2.2 and RFC 3581 (responseAddr).
// A net.Conn's Write is atomic against sipgo's own writes to the same
// connection, so a response is never interleaved with another.
func (s *Server) writeNet(req *sip.Request, b []byte) error {
	if req.Transport() == "TCP" {
		c, ok := s.tcp.Load(req.Source())
		if !ok {
			return errNoConnection
		}
		_, err := c.(*tcpConn).Write(b)
		return err
	}
	dst, err := responseAddr(req)
	if err != nil {
		return err
	}
	return s.sendUDP(b, dst)
}

// sendUDP writes b to dst from the router's UDP socket.
func (s *Server) sendUDP(b []byte, dst netip.AddrPort) error {
	if s.raw != nil {
		if handled, err := s.raw.send(b, dst); handled {
			return err
		}
	}
	_, err := s.udp.WriteToUDPAddrPort(b, dst)
	return err
}

// newNetTx makes a sipgo server transaction for a cache miss on the
// connection the request came in on: the UDP socket, or the TCP connection
// sipgo's pool knows by its source.
func (s *Server) newNetTx(req *sip.Request, key string) (serverTx, error) {
	var conn sip.Connection = s.udpConn
	if req.Transport() != "UDP" {
		c, err := s.tp.GetConnection(req.Transport(), req.Source())
		if err != nil {
			return nil, err
		}
		conn = c
	}
	tx := sip.NewServerTx(key, req, conn, s.log)
	if err := tx.Init(); err != nil {
		_, _ = conn.TryClose()
		return nil, err
	}
	return tx, nil
}

// sourceHostPort splits req's source address ("ip:port", "[ipv6]:port")
// without allocating.
func sourceHostPort(req *sip.Request) (host, port string) {
	src := req.Source()
	i := strings.LastIndexByte(src, ':')
	if i < 0 {
		return src, ""
	}
	host, port = src[:i], src[i+1:]
	if len(host) > 1 && host[0] == '[' {
		host = host[1 : len(host)-1]
	}
	return host, port
}

// fixVia adds viaFixes to the request's own top Via, for the responses
// sipgo builds from it in a server transaction (the stateless path adds
// them while writing, without touching the request).
func fixVia(req *sip.Request) {
	received, rport := viaFixes(req)
	via := req.Via()
	if rport != "" {
		via.Params.Add("rport", rport)
	}
	if received != "" {
		via.Params.Add("received", received)
	}
}

// responseAddr is where a UDP response goes: see replyAddr.
func responseAddr(req *sip.Request) (netip.AddrPort, error) {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return src, fmt.Errorf("siprouter: source %q: %w", req.Source(), err)
	}
	via := req.Via()
	_, rport := via.Params.Get("rport")
	return replyAddr(src, rport, via.Port), nil
}

// replyAddr is where a UDP response to a request from src goes (RFC 3261
// §18.2.2, RFC 3581): back to src when the top Via has an rport
// parameter, else to src's IP and the Via's port (5060 if none).
func replyAddr(src netip.AddrPort, rport bool, viaPort int) netip.AddrPort {
	if rport {
		return src
	}
	port := uint16(sip.DefaultUdpPort)
	if viaPort > 0 {
		port = uint16(viaPort)
	}
	return netip.AddrPortFrom(src.Addr(), port)
}
