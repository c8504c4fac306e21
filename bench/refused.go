package bench

import (
	"fmt"
	"net"
	"syscall"
)

// RefusedPort is a loopback TCP port bound but never listening: connecting
// to it is refused at once (the kernel answers SYN with RST), and while it
// is held no other socket can take the port, so a "sink that is down" stays
// down for the whole run. Close releases it. Not safe for concurrent Close.
type RefusedPort struct {
	fd   int
	addr string
}

// ReserveRefusedAddr binds a socket to 127.0.0.1:0 without listening.
func ReserveRefusedAddr() (*RefusedPort, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("bench: reserve port: %w", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("bench: reserve port: %w", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("bench: reserve port: %w", err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		syscall.Close(fd)
		panic("BUG: getsockname of an AF_INET socket is not IPv4")
	}
	return &RefusedPort{fd: fd, addr: net.JoinHostPort("127.0.0.1", fmt.Sprint(in4.Port))}, nil
}

// Addr is the port's "127.0.0.1:port".
func (r *RefusedPort) Addr() string { return r.addr }

// Close releases the port; it is idempotent.
func (r *RefusedPort) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := syscall.Close(r.fd)
	r.fd = -1
	return err
}
