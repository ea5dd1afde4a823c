package config

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

const settleSite = `
[[listener]]
name = "web"
address = "127.0.0.1:8080"

[[vhost]]
hosts = ["a.example"]
root = "site"
`

// A file read in the middle of a save fails to load; once the writer has
// finished, within the settle time, the finished file is what loads.
func TestLoadSettledWaitsForAHalfWrittenSaveToFinish(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, newSite(t), settleSite[:strings.Index(settleSite, "[[vhost]]")])
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(DefaultSettle / 4)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := f.WriteString(settleSite[strings.Index(settleSite, "[[vhost]]"):]); err != nil {
			t.Error(err)
		}
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	}()
	cfg, err := LoadSettled(path, DefaultSettle)
	<-done
	if err != nil {
		t.Fatalf("the save finished within the settle time, yet: %v", err)
	}
	if len(cfg.Vhosts) != 1 || cfg.Vhosts[0].Hosts[0] != "a.example" {
		t.Fatalf("loaded %+v, want the finished file", cfg.Vhosts)
	}
}

// A failure in a file that stays as it is is reported, as Load reports it,
// once the settle time has passed; a valid file loads without waiting.
func TestLoadSettledReportsAFailureOnceTheFileIsStill(t *testing.T) {
	t.Parallel()
	dir := newSite(t)
	path := writeConfig(t, dir, strings.Replace(settleSite, "root =", "rooot =", 1))
	_, want := Load(path)
	began := time.Now()
	_, err := LoadSettled(path, DefaultSettle)
	took := time.Since(began)
	var list ErrorList
	if !errors.As(err, &list) || err.Error() != want.Error() {
		t.Fatalf("got %v, want Load's %v", err, want)
	}
	if took < DefaultSettle || took > 3*DefaultSettle {
		t.Errorf("the failure came after %v, want one settle time (%v)", took, DefaultSettle)
	}

	writeConfig(t, dir, settleSite)
	began = time.Now()
	if _, err := LoadSettled(path, DefaultSettle); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took >= DefaultSettle {
		t.Errorf("a valid file took %v to load", took)
	}
}

// A file rewritten (broken) faster than it can settle still gets an
// answer, after a bounded number of looks.
func TestLoadSettledGivesUpOnAFileThatNeverSettles(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, newSite(t), "broken = ")
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if err := os.WriteFile(path, []byte("broken = "+strings.Repeat(" ", i%7)), 0o644); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	const settle = 50 * time.Millisecond
	began := time.Now()
	_, err := LoadSettled(path, settle)
	took := time.Since(began)
	close(stop)
	<-done
	if err == nil {
		t.Fatal("a broken file loaded")
	}
	if took > settleRounds*settle+time.Second {
		t.Errorf("took %v for a file that never settles, want about %v", took, settleRounds*settle)
	}
}
