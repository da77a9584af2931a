//go:build unix

package imds

import (
	"context"
	"fmt"
	"net"
	"syscall"
)

// setHopLimit sets the IP TTL (IPv6 hop limit) of the connection the
// request came on, when ConnContext put it in ctx.
func setHopLimit(ctx context.Context, hops int) error {
	c, ok := ctx.Value(connKey{}).(net.Conn)
	if !ok {
		return nil
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("hop limit: %w", err)
	}
	level, opt := syscall.IPPROTO_IP, syscall.IP_TTL
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		level, opt = syscall.IPPROTO_IPV6, syscall.IPV6_UNICAST_HOPS
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), level, opt, hops) }); err != nil {
		return fmt.Errorf("hop limit: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("hop limit %d: %w", hops, serr)
	}
	return nil
}
