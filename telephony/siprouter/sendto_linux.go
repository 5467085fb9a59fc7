//go:build linux

package siprouter

import (
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// rawSender writes the router's UDP answers with sendto(2) through
// syscall.RawSyscall6, that is without the runtime's entersyscall and
// exitsyscall around it.
//
// Why: on a busy router every P is running, and sysmon takes the P away
// from a thread that is still inside a system call at its next tick (20
// µs). A sendto on loopback delivers the datagram to the receiver inline,
// so it often is; the P goes to another thread, and the returning thread
// has to queue for a P again. A perf profile of the router at 38k calls/s
// spent about a fifth of its CPU on that traffic (futex wake-ups, context
// switches, sysmon), and a reader held up that way is a late answer. The
// socket is non-blocking (the runtime sets O_NONBLOCK), so sendto cannot
// block; when the kernel has no room (EAGAIN, ENOBUFS) the datagram takes
// the runtime's path, which waits for it.
type rawSender struct {
	rc    syscall.RawConn
	inet6 bool // an AF_INET6 socket: IPv4 destinations go v4-mapped
	sends sync.Pool
}

// rawSend is one sendto's arguments, reused through rawSender.sends so
// that a send allocates nothing (a closure over them would).
type rawSend struct {
	b     []byte
	sa    syscall.RawSockaddrInet6 // or a RawSockaddrInet4 in its first bytes
	salen uintptr
	errno syscall.Errno
	do    func(fd uintptr)
}

func (r *rawSend) sendto(fd uintptr) {
	_, _, r.errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&r.b[0])), uintptr(len(r.b)),
		0, uintptr(unsafe.Pointer(&r.sa)), r.salen)
}

// newRawSender returns the sender for c, or nil when c's family is not
// known (the caller then uses c.WriteToUDPAddrPort).
func newRawSender(c *net.UDPConn) *rawSender {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	family := -1
	if err := rc.Control(func(fd uintptr) {
		switch sa, err := syscall.Getsockname(int(fd)); {
		case err != nil:
		case isInet4(sa):
			family = syscall.AF_INET
		default:
			family = syscall.AF_INET6
		}
	}); err != nil || family < 0 {
		return nil
	}
	s := &rawSender{rc: rc, inet6: family == syscall.AF_INET6}
	s.sends.New = func() any {
		r := &rawSend{}
		r.do = r.sendto
		return r
	}
	return s
}

func isInet4(sa syscall.Sockaddr) bool {
	_, ok := sa.(*syscall.SockaddrInet4)
	return ok
}

// send writes b to dst. handled is false when the datagram was not sent
// and the caller should send it the runtime's way (no room, or an address
// this socket cannot take directly).
func (s *rawSender) send(b []byte, dst netip.AddrPort) (handled bool, err error) {
	ip, port := dst.Addr(), dst.Port()
	if len(b) == 0 || ip.Zone() != "" || (!s.inet6 && !ip.Unmap().Is4()) {
		return false, nil
	}
	r := s.sends.Get().(*rawSend)
	defer s.sends.Put(r)
	r.b = b
	if s.inet6 {
		r.sa = syscall.RawSockaddrInet6{Family: syscall.AF_INET6, Addr: ip.As16()}
		putPort(&r.sa.Port, port)
		r.salen = syscall.SizeofSockaddrInet6
	} else {
		sa4 := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&r.sa))
		*sa4 = syscall.RawSockaddrInet4{Family: syscall.AF_INET, Addr: ip.Unmap().As4()}
		putPort(&sa4.Port, port)
		r.salen = syscall.SizeofSockaddrInet4
	}
	err = s.rc.Control(r.do)
	r.b = nil // the pool must not keep the answer alive
	if err != nil {
		return true, err // the socket is closed
	}
	switch r.errno {
	case 0:
		return true, nil
	case syscall.EAGAIN, syscall.ENOBUFS:
		return false, nil
	}
	return true, os.NewSyscallError("sendto", r.errno)
}

// putPort stores port in network byte order.
func putPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}
