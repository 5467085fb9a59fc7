//go:build linux

package siprouter

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// udpReader reads the router's UDP socket with recvfrom(2) through
// syscall.RawSyscall6: without the runtime's entersyscall/exitsyscall, and
// without the socket's read lock while datagrams are waiting.
//
// Why: net.UDPConn's reads enter the scheduler twice per datagram. Each
// recvfrom goes through entersyscall, which wakes sysmon when it sleeps,
// and each read holds the socket's read lock, so the router's readers
// take turns: the one that read a datagram wakes the next one (a futex
// and a context switch) before it answers. A perf profile of the router
// at half load (16k calls/s) spent 11 % of its CPU in sysmon and 13 % in
// the scheduler's park and wake-up paths. The socket is non-blocking (the
// runtime sets O_NONBLOCK), so recvfrom cannot block: readers that find
// datagrams read them side by side through RawConn.Control, and only an
// empty socket sends a reader to wait the runtime's way (RawConn.Read,
// which parks it in the netpoller until the socket is readable).
type udpReader struct {
	rc    syscall.RawConn
	buf   []byte
	sa    syscall.RawSockaddrAny
	salen uint32
	n     int
	errno syscall.Errno
	// The methods below, bound once: a method value made per call would
	// allocate.
	try       func(fd uintptr)
	tryOrWait func(fd uintptr) bool
}

// newUDPReader returns a reader of c into buf, for one goroutine; nil
// when c has no raw connection (the caller then reads through c).
func newUDPReader(c *net.UDPConn, buf []byte) *udpReader {
	rc, err := c.SyscallConn()
	if err != nil || len(buf) == 0 {
		return nil
	}
	r := &udpReader{rc: rc, buf: buf}
	r.try = r.recvfrom
	r.tryOrWait = func(fd uintptr) bool {
		r.recvfrom(fd)
		return r.errno != syscall.EAGAIN
	}
	return r
}

// recvfrom reads one datagram, or sets errno.
func (r *udpReader) recvfrom(fd uintptr) {
	for {
		r.salen = syscall.SizeofSockaddrAny
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&r.buf[0])), uintptr(len(r.buf)),
			0, uintptr(unsafe.Pointer(&r.sa)), uintptr(unsafe.Pointer(&r.salen)))
		if errno != syscall.EINTR {
			r.n, r.errno = int(n), errno
			return
		}
	}
}

// read returns the next datagram (in buf[:n]) and its source. After the
// socket is closed it returns an error that errors.Is net.ErrClosed.
func (r *udpReader) read() (n int, src netip.AddrPort, err error) {
	if err := r.rc.Control(r.try); err != nil {
		return 0, src, err
	}
	if r.errno == syscall.EAGAIN {
		// Nothing waiting: park until there is. The first try inside Read
		// comes after the runtime re-arms its readiness flag, so a datagram
		// that arrived since the try above is not missed.
		if err := r.rc.Read(r.tryOrWait); err != nil {
			return 0, src, err
		}
	}
	if r.errno != 0 {
		return 0, src, os.NewSyscallError("recvfrom", r.errno)
	}
	return r.n, r.source(), nil
}

// source is the address recvfrom stored in sa.
func (r *udpReader) source() netip.AddrPort {
	switch r.sa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&r.sa))
		ip := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			ip = ip.WithZone(zoneName(sa.Scope_id))
		}
		return netip.AddrPortFrom(ip, getPort(&sa.Port))
	}
	return netip.AddrPort{}
}

// zoneName is an IPv6 scope's interface name, as net names it.
func zoneName(index uint32) string {
	if ifi, err := net.InterfaceByIndex(int(index)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(index), 10)
}

// getPort reads a port stored in network byte order.
func getPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}
