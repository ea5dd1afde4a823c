//go:build !linux

package listener

import (
	"net"
	"time"
)

// acceptDeferral is zero where the kernel cannot defer accepts.
const acceptDeferral time.Duration = 0

func deferAccept(ln net.Listener, on bool) {}
