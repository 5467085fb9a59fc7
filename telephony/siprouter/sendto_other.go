//go:build !linux

package siprouter

import (
	"net"
	"net/netip"
)

// rawSender is Linux only (see sendto_linux.go); elsewhere the router
// sends through the runtime.
type rawSender struct{}

func newRawSender(*net.UDPConn) *rawSender { return nil }

func (*rawSender) send([]byte, netip.AddrPort) (bool, error) { return false, nil }
