package attack

import (
	"strings"
	"testing"
)

// Path traversal: secret.txt sits beside the site root, and symlinks in
// the root point at it, at its directory and at /etc/passwd. No target,
// however encoded, may bring its content (or, with listing on, its name)
// into a response.
var traversalTargets = []string{
	// Plain and dot-segment tricks.
	"/../secret.txt",
	"/../../../../../../../../secret.txt",
	"/./../secret.txt",
	"//../secret.txt",
	"/sub/../../secret.txt",
	"/sub/./../../secret.txt",
	"/../../../../../../etc/passwd",
	"/..",
	"/../",
	"/...",
	"/..;/secret.txt",
	"/sub/..;/..;/secret.txt",
	// Percent-encoded dots and slashes.
	"/%2e%2e/secret.txt",
	"/%2E%2E/secret.txt",
	"/.%2e/secret.txt",
	"/%2e./secret.txt",
	"/..%2fsecret.txt",
	"/..%2Fsecret.txt",
	"/%2e%2e%2fsecret.txt",
	"/sub%2f..%2f..%2fsecret.txt",
	"/sub/..%2f..%2fsecret.txt",
	"/%2f..%2f..%2fsecret.txt",
	"/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
	// Double encoding: decoded once, "%2e" is a literal name.
	"/%252e%252e/secret.txt",
	"/%252e%252e%252fsecret.txt",
	"/..%252fsecret.txt",
	"/%25%32%65%25%32%65/secret.txt",
	// Backslashes, raw and encoded (a separator only on Windows).
	"/..\\secret.txt",
	"/sub\\..\\..\\secret.txt",
	"/%5c..%5csecret.txt",
	"/..%5csecret.txt",
	"/%5c%2e%2e%5csecret.txt",
	// Overlong and odd UTF-8 forms of "." and "/".
	"/%c0%ae%c0%ae/secret.txt",
	"/%c0%ae%c0%ae%c0%afsecret.txt",
	"/%e0%80%ae%e0%80%ae/secret.txt",
	"/%f0%80%80%ae%f0%80%80%ae/secret.txt",
	"/..%c0%afsecret.txt",
	"/..%c1%9csecret.txt",
	"/%uff0e%uff0e/secret.txt",
	"/%ef%bc%8e%ef%bc%8e/secret.txt",
	"/%e2%80%a4%e2%80%a4/secret.txt",
	// NUL and other controls.
	"/%00",
	"/../secret.txt%00",
	"/secret.txt%00.html",
	"/..%00/secret.txt",
	"/sub/file.txt%00/../../secret.txt",
	"/%0a../secret.txt",
	// Symlinks out of the root.
	"/link",
	"/abslink",
	"/passwd",
	"/linkdir/secret.txt",
	"/linkdir/",
	"/linkdir",
	"/linkdir/root/link",
	"/sub/uplink",
	"/%6c%69%6e%6b",
	"/sub/../link",
	"/linkdir/%2e%2e/secret.txt",
	// Query and fragment-ish decoys.
	"/?../secret.txt",
	"/sub/file.txt?/../../secret.txt",
	"/index.html;/../../secret.txt",
}

// traversalRequests turns each target into the request shapes it can
// travel in: origin-form, absolute-form, HEAD, and with a Range.
func traversalRequests() map[string]string {
	reqs := map[string]string{}
	for _, tg := range traversalTargets {
		reqs["origin "+tg] = "GET " + tg + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
		reqs["absolute "+tg] = "GET http://example.com" + tg + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
		reqs["range "+tg] = "GET " + tg + " HTTP/1.1\r\nHost: example.com\r\nRange: bytes=0-5,6-\r\nConnection: close\r\n\r\n"
		reqs["listing "+tg] = "GET " + tg + "/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
	}
	// Host values that look like paths, and absolute-form hosts with dots.
	for _, host := range []string{"..", "../secret.txt", "example.com/..", "example.com\\..", "%2e%2e", "example.com:80/../"} {
		reqs["host "+host] = "GET /secret.txt HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n"
		reqs["absolute host "+host] = "GET http://" + host + "/secret.txt HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
	}
	return reqs
}

func TestPathTraversalNeverReachesOutsideTheRoot(t *testing.T) {
	s := startSite(t, nil, nil)
	t.Run("requests", func(t *testing.T) {
		for name, raw := range traversalRequests() {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				stream := string(s.exchange(t, raw, 0))
				if strings.Contains(stream, secretMarker) || strings.Contains(stream, "root:x:0:0") {
					t.Fatalf("secret leaked:\n%s", stream)
				}
				// With listing on, a listing of the directory above the
				// root would name secret.txt.
				if strings.Contains(stream, `href="./secret.txt"`) || strings.Contains(stream, `href="./root/"`) {
					t.Fatalf("directory outside the root listed:\n%s", stream)
				}
				rs, err := parseResponses([]byte(stream))
				if err != nil || len(rs) != 1 {
					t.Fatalf("%d responses (%v):\n%s", len(rs), err, stream)
				}
				if c := rs[0].StatusCode; c == 200 || c == 206 {
					// Only the root itself and its own files may be served.
					if rs[0].body != homeBody && rs[0].body != "in sub" && !strings.Contains(rs[0].body, "Index of /") {
						t.Fatalf("served %d:\n%s", c, stream)
					}
				}
			})
		}
	})
	s.healthy(t)
	// The symlinks and the secret are really there: the suite would catch
	// a server that served them.
	if r := s.get(t, "/sub/file.txt"); r.body != "in sub" {
		t.Fatalf("control file: %d %q", r.StatusCode, r.body)
	}
}

// TestPathTraversalFollowSymlinksIsOptIn shows the suite is not blind:
// with follow_symlinks = true the same symlink serves the file, as the
// config asks.
func TestPathTraversalFollowSymlinksIsOptIn(t *testing.T) {
	s := startTOML(t, strings.Replace("[server]\naccess_log = \"off\"\n"+siteTOML, "listing = true", "follow_symlinks = true", 1), siteFilesWith(nil))
	if r := s.get(t, "/link"); r.body != secretMarker {
		t.Fatalf("follow_symlinks = true: %d %q", r.StatusCode, r.body)
	}
	// Dot-segments still cannot climb out, symlinks or not.
	for _, tg := range []string{"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt"} {
		if r := s.get(t, tg); strings.Contains(r.body, secretMarker) {
			t.Fatalf("%s leaked with follow_symlinks", tg)
		}
	}
}

func siteFilesWith(extra map[string]string) map[string]string {
	files := map[string]string{}
	for k, v := range siteFiles {
		files[k] = v
	}
	for k, v := range extra {
		files[k] = v
	}
	return files
}
