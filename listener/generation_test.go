package listener

import (
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers"
)

// A replaced snapshot keeps its resources open while a request that began
// with it is still running, and closes them the moment that request ends;
// a snapshot nothing uses closes as soon as it is retired.
func TestSnapshotResourcesCloseWhenTheLastRequestEnds(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	slow := handlers.HandlerFunc(func(w handlers.ResponseWriter, r *handlers.Request) error {
		close(started)
		<-release
		_, err := w.WriteString("old")
		return err
	})
	ts := startServer(t, testRouter{"": text("unused")}, nil)
	name := ts.cfg.Listeners[0].Name
	closed := make(chan struct{})
	old := NewGeneration(CloserFunc(func() error { close(closed); return nil }))
	if _, err := ts.sup.Apply(ts.cfg, Snapshot{Errors: testPages, Routers: map[string]Router{name: testRouter{"": slow}}, Owner: old}); err != nil {
		t.Fatal(err)
	}
	c := ts.dial(t)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started

	next := NewGeneration()
	if _, err := ts.sup.Apply(ts.cfg, Snapshot{Errors: testPages, Routers: map[string]Router{name: testRouter{"": text("new")}}, Owner: next}); err != nil {
		t.Fatal(err)
	}
	old.Retire()
	select {
	case <-closed:
		t.Fatal("closed while a request still uses it")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "old" {
		t.Fatalf("the request in flight got %d %q, want the old snapshot's answer", resp.StatusCode, body)
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Fatal("not closed after its last request ended")
	}
	// The same connection's next request is served by the new snapshot.
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); body != "new" {
		t.Fatalf("next request: %q, want the new snapshot", body)
	}

	idle := make(chan struct{})
	unused := NewGeneration(CloserFunc(func() error { close(idle); return nil }))
	unused.Retire()
	select {
	case <-idle:
	case <-time.After(2 * time.Second):
		t.Fatal("a generation no request used did not close when retired")
	}
}
