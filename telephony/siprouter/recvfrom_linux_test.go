//go:build linux

package siprouter

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestUDPReader: the raw recvfrom path returns each datagram with the
// source address the runtime's read would report, for each socket family
// the router may listen on.
func TestUDPReader(t *testing.T) {
	tests := []struct {
		name         string
		listen, from string // the router's socket; the sender's
		wantFrom     func(netip.AddrPort) netip.AddrPort
	}{
		{"IPv4", "127.0.0.1:0", "127.0.0.1:0", nil},
		{"IPv6", "[::1]:0", "[::1]:0", nil},
		// A dual-stack socket sees an IPv4 sender as v4-mapped, as net does.
		{"DualStackFromIPv4", "[::]:0", "127.0.0.1:0", func(a netip.AddrPort) netip.AddrPort {
			return netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), a.Port())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			router, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.listen)))
			if err != nil {
				t.Skipf("no %s socket here: %v", tt.name, err)
			}
			defer router.Close()
			pbx, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(tt.from)))
			if err != nil {
				t.Fatal(err)
			}
			defer pbx.Close()
			r := newUDPReader(router, make([]byte, maxDatagram))
			if r == nil {
				t.Fatal("no reader for a UDP socket")
			}
			dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), router.LocalAddr().(*net.UDPAddr).AddrPort().Port())
			if tt.listen == "[::1]:0" {
				dst = router.LocalAddr().(*net.UDPAddr).AddrPort()
			}
			want := pbx.LocalAddr().(*net.UDPAddr).AddrPort()
			if tt.wantFrom != nil {
				want = tt.wantFrom(want)
			}

			// One datagram already waiting (the fast path), then one sent
			// while the reader waits (the parked path).
			for i, delay := range []time.Duration{0, 50 * time.Millisecond} {
				msg := fmt.Sprintf("OPTIONS sip:router SIP/2.0\r\nCSeq: %d OPTIONS\r\n\r\n", i+1)
				go func() {
					time.Sleep(delay)
					if _, err := pbx.WriteToUDPAddrPort([]byte(msg), dst); err != nil {
						t.Error(err)
					}
				}()
				if delay == 0 {
					time.Sleep(20 * time.Millisecond)
				}
				n, src, err := r.read()
				if err != nil {
					t.Fatalf("read %d: %v", i+1, err)
				}
				if got := string(r.buf[:n]); got != msg {
					t.Errorf("read %d: %q, want %q", i+1, got, msg)
				}
				if src != want {
					t.Errorf("read %d: source %s, want %s", i+1, src, want)
				}
			}
		})
	}
}

// TestUDPReader_Close: a reader waiting on an empty socket returns
// net.ErrClosed when the socket is closed, as the router's shutdown needs.
func TestUDPReader_Close(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := newUDPReader(c, make([]byte, 100))
	done := make(chan error, 1)
	go func() {
		_, _, err := r.read()
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("read after close: %v, want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("read still waiting 5 s after the socket was closed")
	}
}

// TestUDPReader_Readers: several readers on one socket, as the router
// runs them, get every datagram exactly once, whether they find it
// waiting or wait for it (a lost wake-up would leave one unread).
func TestUDPReader_Readers(t *testing.T) {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadBuffer(4 << 20)
	pbx, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer pbx.Close()

	const readers, total = 4, 20_000
	got := make(chan string, total)
	var wg sync.WaitGroup
	for range readers {
		r := newUDPReader(c, make([]byte, 100))
		wg.Go(func() {
			for {
				n, _, err := r.read()
				if err != nil {
					if !errors.Is(err, net.ErrClosed) {
						t.Error(err)
					}
					return
				}
				got <- string(r.buf[:n])
			}
		})
	}
	// Bursts and pauses: readers find datagrams waiting, then park.
	for i := range total {
		if _, err := pbx.Write(fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
		if i%500 == 499 {
			time.Sleep(time.Millisecond)
		}
	}
	seen := make(map[string]bool, total)
	timeout := time.After(10 * time.Second)
	for len(seen) < total {
		select {
		case s := <-got:
			if seen[s] {
				t.Fatalf("datagram %s read twice", s)
			}
			seen[s] = true
		case <-timeout:
			t.Fatalf("%d of %d datagrams read after 10 s", len(seen), total)
		}
	}
	c.Close()
	wg.Wait()
}

// BenchmarkUDPRead compares the raw recvfrom path with the runtime's
// ReadFromUDPAddrPort, in the same run: two readers on one socket, as the
// router runs them on two cores, draining datagrams that wait for them
// (the sends into the socket are not timed).
func BenchmarkUDPRead(b *testing.B) {
	for _, m := range []string{"raw", "runtime"} {
		b.Run(m, func(b *testing.B) {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			_ = c.SetReadBuffer(4 << 20)
			pbx, err := net.DialUDP("udp4", nil, c.LocalAddr().(*net.UDPAddr))
			if err != nil {
				b.Fatal(err)
			}
			defer pbx.Close()
			var reads [2]func() error
			for i := range reads {
				buf := make([]byte, maxDatagram)
				reads[i] = func() error { _, _, err := c.ReadFromUDPAddrPort(buf); return err }
				if m == "raw" {
					r := newUDPReader(c, buf)
					reads[i] = func() error { _, _, err := r.read(); return err }
				}
			}
			msg := make([]byte, 600) // about an INVITE
			const round = 1000       // datagrams per half; the socket buffer holds ~3,000
			b.ReportAllocs()
			for done := 0; done < b.N; done += 2 * round {
				b.StopTimer()
				for range 2 * round {
					if _, err := pbx.Write(msg); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				var wg sync.WaitGroup
				for _, read := range reads {
					wg.Go(func() {
						for range round {
							if err := read(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			}
		})
	}
}
