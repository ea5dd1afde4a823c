// Package attack holds moreweb's hostile-client suites: request smuggling,
// path traversal, header and target size abuse, slowloris, clients that
// never read, response splitting, log injection, timeouts, TLS handshake
// and record abuse, and a soak test for resource leaks. Each suite starts
// the real server in-process (config -> vhost -> listener, as the moreweb
// command wires them) on a loopback port, plays a named table of attacks
// over raw sockets, and checks that a normal request still succeeds
// afterwards.
//
// The package has no code outside its tests; docs/SECURITY.md maps every
// attack class to the test that covers it. Run it alone with
//
//	go test -race ./attack/
//	go test -race ./attack/ -run Soak -soak=60s    # a longer soak
package attack
