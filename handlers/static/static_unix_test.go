//go:build unix

package static

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moreweb/moreweb/handlers/handlertest"
)

// A FIFO under the root is neither opened for long nor served nor listed;
// opening one without O_NONBLOCK would wait forever for a writer.
func TestFIFOIsNeitherServedNorListedNorWaitedOn(t *testing.T) {
	root := writeTree(t, map[string]string{"a.txt": "A"})
	if err := syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	s := newStatic(t, Options{Root: root, Listing: true})
	req := handlertest.Get(t, "/pipe")
	done := make(chan int, 1)
	go func() {
		rec := handlertest.NewRecorder()
		done <- status(rec, s.Serve(rec, req))
	}()
	select {
	case got := <-done:
		if got != 404 {
			t.Errorf("FIFO: %d, want 404", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serving a FIFO blocked")
	}
	rec, _ := do(t, s, "GET", "/")
	if strings.Contains(rec.Body.String(), "pipe") {
		t.Error("FIFO listed")
	}
}
