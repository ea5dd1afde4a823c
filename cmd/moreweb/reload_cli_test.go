package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestCLIReloadsWhenTheFileIsSaved is the user's view of hot reload, with
// the real binary: save the config (by rename, as editors do) with a new
// site and it serves within a second; save a typo and the log says where,
// while the old sites keep serving; fix it and it applies.
func TestCLIReloadsWhenTheFileIsSaved(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	conf := writeSite(t, dir, addr, "first site")
	writeFiles(t, dir, map[string]string{"third/index.html": "third site"})
	p := startMoreweb(t, addr, "/", "-c", conf)
	original, _ := os.ReadFile(conf)
	s := &saver{t: t, path: conf}

	// waitFor polls until host answers body, and says how long it took.
	waitFor := func(host, body string) time.Duration {
		t.Helper()
		began := time.Now()
		for {
			if _, got := get(t, addr, host, "/"); got == body {
				return time.Since(began)
			}
			if time.Since(began) > 5*time.Second {
				t.Fatalf("%s never answered %q:\n%s", host, body, p.stderr)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	third := string(original) + "\n[[vhost]]\nhosts = [\"third.test\"]\nroot = \"third\"\n"
	s.save("rename", third)
	took := waitFor("third.test", "third site")
	t.Logf("the new site served %v after the save", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the new site took %v to appear, want under a second", took)
	}

	s.save("rename", strings.Replace(third, `root = "third"`, `rooot = "third"`, 1))
	p.stderr.waitCount(t, "reload failed", 1)
	if !regexp.MustCompile(regexp.QuoteMeta(conf) + `:17:1: vhost\[1\]\.rooot: unknown key`).MatchString(p.stderr.String()) {
		t.Errorf("the failure does not point at the typo:\n%s", p.stderr)
	}
	for host, body := range map[string]string{"example.test": "first site", "third.test": "third site"} {
		if _, got := get(t, addr, host, "/"); got != body {
			t.Errorf("after the typo %s answers %q, want %q", host, got, body)
		}
	}

	writeFiles(t, dir, map[string]string{"third/fixed.html": "fixed"})
	s.save("rename", third+"index = [\"fixed.html\"]\n")
	waitFor("third.test", "fixed")
	// The new site serves before its reload's line is written.
	if n := p.stderr.waitCount(t, "INFO\treloaded\t", 2); n != 2 {
		t.Errorf("%d reloads logged, want 2:\n%s", n, p.stderr)
	}
}
