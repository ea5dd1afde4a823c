package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// crossCheck runs the checks that compare parts of the file with each
// other, and resolves each vhost's listeners. It runs on whatever decoded,
// so one bad listener does not hide a clash between two vhosts.
func (c *checker) crossCheck(cfg *Config, ls []listenerSource, vs []vhostSource) {
	names := c.checkListeners(cfg.Listeners, ls)
	for i := range cfg.Vhosts {
		cfg.Vhosts[i].Listeners = c.resolveListeners(cfg.Listeners, names, vs[i])
	}
	c.checkClaims(cfg.Vhosts, vs)
	c.checkTLS(cfg, vs)
}

// checkListeners reports duplicate names and addresses and returns the
// index of each name.
func (c *checker) checkListeners(lst []Listener, ls []listenerSource) map[string]int {
	names := map[string]int{}
	addrs := map[string]int{}
	for i, l := range lst {
		if l.Name != "" {
			if j, dup := names[l.Name]; dup {
				c.valueErrorf(ls[i].name, "listener %q is already defined by listener[%d]", l.Name, j)
			} else {
				names[l.Name] = i
			}
		}
		if a, ok := canonicalAddress(l.Address); ok {
			if j, dup := addrs[a]; dup {
				c.valueErrorf(ls[i].address, "address %q is already used by listener[%d]", l.Address, j)
			} else {
				addrs[a] = i
			}
		}
	}
	return names
}

// canonicalAddress is the form two listeners' addresses are compared in.
// Port 0 asks the kernel for a fresh port each time, so it never clashes.
func canonicalAddress(addr string) (string, bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", false
	}
	n, err := strconv.Atoi(port)
	if err != nil || n == 0 {
		return "", false
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		host = ip.String()
	}
	return net.JoinHostPort(strings.ToLower(strings.TrimSuffix(host, ".")), strconv.Itoa(n)), true
}

// resolveListeners returns the listener names a vhost is served on: the
// ones it names, or every listener when it names none.
func (c *checker) resolveListeners(lst []Listener, names map[string]int, v vhostSource) []string {
	var out []string
	seen := map[string]bool{}
	add := func(name string) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	if v.listeners == nil {
		for _, l := range lst {
			if l.Name != "" {
				add(l.Name)
			}
		}
		return out
	}
	for _, it := range v.listeners {
		if _, ok := names[it.s]; !ok {
			c.valueErrorf(it.path, "no listener named %q", it.s)
			continue
		}
		add(it.s)
	}
	return out
}

// checkClaims reports a host claimed by two vhosts on one listener, and
// two defaults on one listener: either would make routing ambiguous.
// Each vhost value is reported once, at its first clash.
func (c *checker) checkClaims(vhosts []Vhost, vs []vhostSource) {
	type claim struct {
		listener, host string
	}
	claimed := map[claim]int{}
	defaults := map[string]int{}
	for i, v := range vhosts {
		for _, h := range vs[i].hosts {
			for _, l := range v.Listeners {
				k := claim{l, h.s}
				if j, dup := claimed[k]; dup {
					c.valueErrorf(h.path, "host %q on listener %q is already claimed by vhost[%d]", h.s, l, j)
					break
				}
				claimed[k] = i
			}
		}
		if !v.Default {
			continue
		}
		for _, l := range v.Listeners {
			if j, dup := defaults[l]; dup {
				c.valueErrorf(vs[i].defaultKey, "listener %q already has a default vhost: vhost[%d]", l, j)
				break
			}
			defaults[l] = i
		}
	}
}
