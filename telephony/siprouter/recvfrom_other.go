//go:build !linux

package siprouter

import (
	"net"
	"net/netip"
)

// udpReader is Linux only (see recvfrom_linux.go); elsewhere the router
// reads through the runtime.
type udpReader struct{}

func newUDPReader(*net.UDPConn, []byte) *udpReader { return nil }

func (*udpReader) read() (int, netip.AddrPort, error) { panic("siprouter: no raw UDP reader here") }
