//go:build linux

package siprouter

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestRawSender: the raw sendto path delivers the datagram, from the
// sender's own address, for each socket family the router may listen on.
func TestRawSender(t *testing.T) {
	tests := []struct {
		name       string
		listen, to string // the router's socket; the receiver
	}{
		{"IPv4", "127.0.0.1:0", "127.0.0.1:0"},
		{"IPv6", "[::1]:0", "[::1]:0"},
		{"DualStackToIPv4", "[::]:0", "127.0.0.1:0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.listen)))
			if err != nil {
				t.Skipf("no %s socket here: %v", tt.name, err)
			}
			defer from.Close()
			to, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.to)))
			if err != nil {
				t.Fatal(err)
			}
			defer to.Close()
			rs := newRawSender(from)
			if rs == nil {
				t.Fatal("no raw sender for a UDP socket")
			}
			msg := []byte("SIP/2.0 302 Moved Temporarily\r\n\r\n")
			handled, err := rs.send(msg, to.LocalAddr().(*net.UDPAddr).AddrPort())
			if !handled || err != nil {
				t.Fatalf("send: handled %v, %v", handled, err)
			}
			buf := make([]byte, 100)
			_ = to.SetReadDeadline(time.Now().Add(2 * time.Second))
			n, src, err := to.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if string(buf[:n]) != string(msg) {
				t.Errorf("received %q, want %q", buf[:n], msg)
			}
			if want := from.LocalAddr().(*net.UDPAddr).AddrPort().Port(); src.Port() != want {
				t.Errorf("sent from port %d, want the socket's %d", src.Port(), want)
			}
		})
	}
}

// TestRawSender_LeavesWhatItCannotSend: a destination the socket's family
// cannot take directly goes back to the caller, unsent.
func TestRawSender_LeavesWhatItCannotSend(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rs := newRawSender(c)
	if handled, _ := rs.send([]byte("x"), netip.MustParseAddrPort("[::1]:5060")); handled {
		t.Error("an IPv6 destination was taken by an IPv4 socket")
	}
	c.Close()
	if handled, err := rs.send([]byte("x"), netip.MustParseAddrPort("127.0.0.1:5060")); !handled || err == nil {
		t.Errorf("send on a closed socket: handled %v, %v; want an error", handled, err)
	}
}

// BenchmarkUDPSend compares the raw sendto path with the runtime's
// WriteToUDPAddrPort, in the same run, from every P at once (the router's
// readers answer on all of them) to a receiver draining its socket.
func BenchmarkUDPSend(b *testing.B) {
	from, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer from.Close()
	to, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer to.Close()
	_ = to.SetReadBuffer(4 << 20)
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := to.ReadFromUDPAddrPort(buf); err != nil {
				return
			}
		}
	}()
	dst := to.LocalAddr().(*net.UDPAddr).AddrPort()
	msg := make([]byte, 400) // about a 302 with two contacts
	rs := newRawSender(from)
	for _, m := range []struct {
		name string
		send func() error
	}{
		{"raw", func() error {
			if handled, err := rs.send(msg, dst); handled {
				return err
			}
			_, err := from.WriteToUDPAddrPort(msg, dst)
			return err
		}},
		{"runtime", func() error { _, err := from.WriteToUDPAddrPort(msg, dst); return err }},
	} {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := m.send(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
