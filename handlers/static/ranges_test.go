package static

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789" // 36 bytes

type part struct{ contentRange, body string }

// Single, multiple, coalesced, unsatisfiable and malformed ranges against a
// 36-byte file.
func TestValidRangesAreServedInvalidOnesIgnoredUnsatisfiable416_RFC9110_14(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{"f.txt": alphabet, "empty.txt": ""})
		s := newStaticMode(t, mode, Options{Root: root})
		many := "bytes=" + strings.Repeat("0-0,", maxRanges) + "2-2"
		amplify := "bytes=" + strings.Repeat("0-35,", maxRanges-1) + "0-35"
		tests := []struct {
			name   string
			method string
			target string
			rng    string
			status int
			parts  []part // one part: a plain 206; several: multipart
			body   string // for 200
		}{
			{"14.1.2 first and last", "GET", "/f.txt", "bytes=0-4", 206, []part{{"bytes 0-4/36", "abcde"}}, ""},
			{"14.1.2 open-ended", "GET", "/f.txt", "bytes=30-", 206, []part{{"bytes 30-35/36", "456789"}}, ""},
			{"14.1.2 suffix", "GET", "/f.txt", "bytes=-3", 206, []part{{"bytes 33-35/36", "789"}}, ""},
			{"14.1.2 suffix longer than the file", "GET", "/f.txt", "bytes=-100", 206, []part{{"bytes 0-35/36", alphabet}}, ""},
			{"14.1.2 last-pos clipped", "GET", "/f.txt", "bytes=10-1000", 206, []part{{"bytes 10-35/36", alphabet[10:]}}, ""},
			{"14.1.2 one byte", "GET", "/f.txt", "bytes=0-0", 206, []part{{"bytes 0-0/36", "a"}}, ""},
			{"14.1.2 unit is case-insensitive", "GET", "/f.txt", "Bytes=1-2", 206, []part{{"bytes 1-2/36", "bc"}}, ""},
			{"14.1.2 empty list elements", "GET", "/f.txt", "bytes=, 1-2 ,", 206, []part{{"bytes 1-2/36", "bc"}}, ""},
			{"14.1.2 unsatisfiable one dropped", "GET", "/f.txt", "bytes=0-1,100-200", 206, []part{{"bytes 0-1/36", "ab"}}, ""},
			{"14.6 two ranges", "GET", "/f.txt", "bytes=0-1,5-6", 206, []part{{"bytes 0-1/36", "ab"}, {"bytes 5-6/36", "fg"}}, ""},
			{"14.6 order kept when disjoint", "GET", "/f.txt", "bytes=10-12,0-1", 206, []part{{"bytes 10-12/36", "klm"}, {"bytes 0-1/36", "ab"}}, ""},
			{"14.6 suffix among others", "GET", "/f.txt", "bytes=0-0,-1", 206, []part{{"bytes 0-0/36", "a"}, {"bytes 35-35/36", "9"}}, ""},
			{"14.6 overlapping coalesced", "GET", "/f.txt", "bytes=0-5,3-8", 206, []part{{"bytes 0-8/36", alphabet[:9]}}, ""},
			{"14.6 adjacent coalesced", "GET", "/f.txt", "bytes=0-1,2-3", 206, []part{{"bytes 0-3/36", "abcd"}}, ""},
			{"14.6 coalesced and sorted", "GET", "/f.txt", "bytes=10-12,0-1,11-20", 206, []part{{"bytes 0-1/36", "ab"}, {"bytes 10-20/36", alphabet[10:21]}}, ""},
			{"14.6 repeated whole file never amplified", "GET", "/f.txt", amplify, 206, []part{{"bytes 0-35/36", alphabet}}, ""},
			{"14.2 too many ranges answered whole", "GET", "/f.txt", many, 200, nil, alphabet},
			{"14.2 HEAD ignores Range", "HEAD", "/f.txt", "bytes=0-1", 200, nil, ""},
			{"14.1.1 last before first ignored", "GET", "/f.txt", "bytes=5-2", 200, nil, alphabet},
			{"14.1.1 not a number ignored", "GET", "/f.txt", "bytes=abc", 200, nil, alphabet},
			{"14.1.1 no dash ignored", "GET", "/f.txt", "bytes=1", 200, nil, alphabet},
			{"14.1.1 empty set ignored", "GET", "/f.txt", "bytes=", 200, nil, alphabet},
			{"14.1.1 only commas ignored", "GET", "/f.txt", "bytes=,,", 200, nil, alphabet},
			{"14.1.1 double dash ignored", "GET", "/f.txt", "bytes=--1", 200, nil, alphabet},
			{"14.1.1 two dashes ignored", "GET", "/f.txt", "bytes=1-2-3", 200, nil, alphabet},
			{"14.1.1 sign ignored", "GET", "/f.txt", "bytes=+1-2", 200, nil, alphabet},
			{"14.1.1 overflow ignored", "GET", "/f.txt", "bytes=99999999999999999999-", 200, nil, alphabet},
			{"14.1.1 one bad spec spoils the set", "GET", "/f.txt", "bytes=0-1,x", 200, nil, alphabet},
			{"14.1 other unit ignored", "GET", "/f.txt", "items=0-1", 200, nil, alphabet},
			{"14.1 empty file sent whole", "GET", "/empty.txt", "bytes=0-1", 200, nil, ""},
			{"15.5.17 past the end", "GET", "/f.txt", "bytes=36-", 416, nil, ""},
			{"15.5.17 far past the end", "GET", "/f.txt", "bytes=100-200", 416, nil, ""},
			{"15.5.17 empty suffix", "GET", "/f.txt", "bytes=-0", 416, nil, ""},
			{"15.5.17 all unsatisfiable", "GET", "/f.txt", "bytes=36-,40-50", 416, nil, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				rec, err := do(t, s, tt.method, tt.target, "Range: "+tt.rng)
				if got := status(rec, err); got != tt.status {
					t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
				}
				checkBodyLength(t, tt.method, rec)
				switch {
				case tt.status == 416:
					if got := rec.Head.Get("Content-Range"); got != "bytes */36" {
						t.Errorf("416 Content-Range %q, want bytes */36", got)
					}
					return
				case tt.status == 200:
					if tt.method == "GET" && rec.Body.String() != tt.body {
						t.Errorf("body %q, want %q", rec.Body.String(), tt.body)
					}
					if rec.Head.Has("Content-Range") {
						t.Error("200 with Content-Range")
					}
					if rec.Head.Get("Accept-Ranges") != "bytes" {
						t.Error("no Accept-Ranges: bytes")
					}
					return
				}
				got := readParts(t, rec.Head.Get("Content-Type"), rec.Head.Get("Content-Range"), rec.Body.Bytes())
				if len(got) != len(tt.parts) {
					t.Fatalf("%d parts %q, want %d %q", len(got), got, len(tt.parts), tt.parts)
				}
				for i := range got {
					if got[i] != tt.parts[i] {
						t.Errorf("part %d: %q, want %q", i, got[i], tt.parts[i])
					}
				}
				if rec.Body.Len() > len(alphabet)+len(tt.parts)*200 {
					t.Errorf("%d bytes sent for a %d-byte file", rec.Body.Len(), len(alphabet))
				}
			})
		}
	})
}

// readParts decodes a 206: one part from Content-Range, or the parts of a
// multipart/byteranges body, checking each part's own header.
func readParts(t *testing.T, ctype, crange string, body []byte) []part {
	t.Helper()
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		t.Fatalf("Content-Type %q: %v", ctype, err)
	}
	if mt != "multipart/byteranges" {
		if crange == "" {
			t.Fatal("206 without Content-Range")
		}
		return []part{{crange, string(body)}}
	}
	if crange != "" {
		t.Error("multipart response with a top-level Content-Range")
	}
	if params["boundary"] == "" {
		t.Fatal("no boundary")
	}
	var parts []part
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return parts
		}
		if err != nil {
			t.Fatalf("multipart: %v", err)
		}
		if got := p.Header.Get("Content-Type"); got != "text/plain; charset=utf-8" {
			t.Errorf("part Content-Type %q", got)
		}
		b, _ := io.ReadAll(p)
		parts = append(parts, part{p.Header.Get("Content-Range"), string(b)})
	}
}

// Two responses never share a boundary, so a file cannot be crafted to
// contain it.
func TestMultipartBoundaryDiffersPerResponse(t *testing.T) {
	root := writeTree(t, map[string]string{"f.txt": alphabet})
	s := newStatic(t, Options{Root: root})
	a, _ := do(t, s, "GET", "/f.txt", "Range: bytes=0-1,5-6")
	b, _ := do(t, s, "GET", "/f.txt", "Range: bytes=0-1,5-6")
	if a.Head.Get("Content-Type") == b.Head.Get("Content-Type") {
		t.Errorf("same boundary twice: %s", a.Head.Get("Content-Type"))
	}
}

// The range is sent only while the client's validator is current; otherwise
// the whole file.
func TestIfRangeSendsTheRangeOnlyWhileTheValidatorIsCurrent_RFC9110_13_1_5(t *testing.T) {
	forEachMode(t, func(t *testing.T, mode string) {
		root := writeTree(t, map[string]string{"f.txt": alphabet})
		s := newStaticMode(t, mode, Options{Root: root})
		first, _ := do(t, s, "GET", "/f.txt")
		etag := first.Head.Get("ETag")
		tests := []struct {
			name   string
			header []string
			status int
		}{
			{"current ETag", []string{"If-Range: " + etag}, 206},
			{"other ETag", []string{`If-Range: "other"`}, 200},
			{"weak ETag never matches", []string{"If-Range: W/" + etag}, 200},
			{"Last-Modified date", []string{"If-Range: " + testDate}, 206},
			{"earlier date", []string{"If-Range: " + beforeDate}, 200},
			{"later date", []string{"If-Range: " + afterDate}, 200},
			{"invalid date", []string{"If-Range: tomorrow"}, 200},
			{"unsatisfiable range with a stale validator", []string{`If-Range: "other"`, "Range: bytes=100-"}, 200},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				hdr := tt.header
				if len(hdr) == 1 {
					hdr = append(hdr, "Range: bytes=0-1")
				}
				rec, err := do(t, s, "GET", "/f.txt", hdr...)
				if got := status(rec, err); got != tt.status {
					t.Fatalf("status %d, want %d (err %v)", got, tt.status, err)
				}
				want := map[int]string{206: "ab", 200: alphabet}[tt.status]
				if rec.Body.String() != want {
					t.Errorf("body %q, want %q", rec.Body.String(), want)
				}
			})
		}
		rec, _ := do(t, s, "GET", "/f.txt", "If-Range: "+etag)
		if rec.Code != 200 {
			t.Errorf("If-Range without Range: %d, want 200", rec.Code)
		}
	})
}

// TestUnevenRangesReassembleALargeFile reassembles a large file from uneven
// ranges, as a download manager does, including a resume with If-Range.
func TestUnevenRangesReassembleALargeFile(t *testing.T) {
	size := 64 << 20
	if testing.Short() {
		size = 1 << 20
	}
	root := t.TempDir()
	data := make([]byte, size)
	rand.NewChaCha8([32]byte{1}).Read(data)
	if err := os.WriteFile(filepath.Join(root, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	s := newStatic(t, Options{Root: root})
	etag := ""
	cuts := []int{0, size / 13, size / 5, size/3 + 7, size / 2, size*2/3 + 1, size - 4097, size}
	var got bytes.Buffer
	for i := 0; i+1 < len(cuts); i++ {
		spec := "bytes=" + strconv.Itoa(cuts[i]) + "-" + strconv.Itoa(cuts[i+1]-1)
		if i == len(cuts)-2 {
			spec = "bytes=" + strconv.Itoa(cuts[i]) + "-" // resume to the end
		}
		hdr := []string{"Range: " + spec}
		if etag != "" {
			hdr = append(hdr, "If-Range: "+etag)
		}
		rec, err := do(t, s, "GET", "/big.bin", hdr...)
		if err != nil || rec.Code != 206 {
			t.Fatalf("piece %d: %d %v", i, rec.Code, err)
		}
		etag = rec.Head.Get("ETag")
		got.Write(rec.Body.Bytes())
	}
	if sha256.Sum256(got.Bytes()) != sha256.Sum256(data) {
		t.Fatalf("reassembled %d bytes differ from the %d-byte file", got.Len(), len(data))
	}
}
