package testkit

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

// h2specServer is net/http's HTTP/2 server, over TLS or as h2c with prior
// knowledge, answering every request with a short body.
func h2specServer(t *testing.T, tls bool) int {
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello\n")
	}))
	// Every case that sends a malformed frame has the server log why it
	// dropped the connection.
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		s.Config.Protocols = new(http.Protocols)
		s.Config.Protocols.SetUnencryptedHTTP2(true)
		s.Start()
	}
	t.Cleanup(s.Close)
	return s.Listener.Addr().(*net.TCPAddr).Port
}

var h2specID = regexp.MustCompile(`^(generic|http2|hpack)/[0-9.]+/[0-9]+$`)

// A full run against net/http takes about ten seconds: almost every case
// passes, and the few that do not say why.
func TestH2SpecAgainstNetHTTP(t *testing.T) {
	r := H2Spec(t, H2SpecOptions{Port: h2specServer(t, true), TLS: true})
	t.Logf("%s in %v", r, r.Duration)
	if r.Total() < 100 {
		t.Fatalf("only %d cases ran:\n%s", r.Total(), r.Output)
	}
	if r.Passed+r.Failed+r.Skipped != r.Total() {
		t.Errorf("%d passed, %d failed, %d skipped of %d", r.Passed, r.Failed, r.Skipped, r.Total())
	}
	if r.Passed < r.Total()*9/10 {
		t.Errorf("only %d of %d passed:\n%s", r.Passed, r.Total(), r.Output)
	}
	if len(r.Failures()) != r.Failed {
		t.Errorf("Failures lists %d cases, the count is %d", len(r.Failures()), r.Failed)
	}
	for _, c := range r.Failures() {
		t.Logf("net/http fails %s", c)
		if c.Message == "" {
			t.Errorf("%s: no message", c.ID)
		}
	}
	seen := map[string]bool{}
	for _, c := range r.Cases {
		if !h2specID.MatchString(c.ID) || c.Desc == "" || seen[c.ID] {
			t.Errorf("case %+v: bad or repeated ID, or no description", c)
		}
		seen[c.ID] = true
	}

	// A case's ID runs that case alone, here over h2c.
	want := r.Cases[len(r.Cases)/2]
	one := H2Spec(t, H2SpecOptions{Port: h2specServer(t, false), Sections: []string{want.ID}})
	if len(one.Cases) != 1 || one.Cases[0].ID != want.ID || one.Cases[0].Desc != want.Desc {
		t.Errorf("running %s alone ran %+v:\n%s", want.ID, one.Cases, one.Output)
	}
}

// The report names no case's number and the output is the only place
// that does: a single case named in Sections keeps its number.
func TestParseH2Spec(t *testing.T) {
	report := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="4.2. Frame Size" package="http2/4.2" id="4.2" tests="2" skipped="0" failures="0" errors="1">
    <testcase package="http2/4.2" classname="Sends a DATA frame with 2^14 octets in length" time="0.0010"></testcase>
    <testcase package="http2/4.2" classname="Sends a large size HEADERS frame &#34;quoted&#34;" time="2.0020">
      <error>GOAWAY Frame (Error Code: FRAME_SIZE_ERROR)
Connection closed
DATA Frame (length:2, flags:0x01, stream_id:1) & more</error>
    </testcase>
  </testsuite>
  <testsuite name="6.5.3. Settings Synchronization" package="http2/6.5.3" id="6.5.3" tests="1" skipped="1" failures="0" errors="0">
    <testcase package="http2/6.5.3" classname="Sends a SETTINGS frame" time="0.0009">
      <skipped></skipped>
    </testcase>
  </testsuite>
</testsuites>
`
	output := "Hypertext Transfer Protocol Version 2 (HTTP/2)\n" +
		"  4. HTTP Frames\n" +
		"    4.2. Frame Size\n" +
		"        1: Sends a DATA frame with 2^14 octets in length\r      ✔ 1: Sends a DATA frame with 2^14 octets in length\n" +
		"        3: Sends a large size HEADERS frame \"quoted\"\r      × 3: Sends a large size HEADERS frame \"quoted\"\n" +
		"        -> The endpoint MUST respond with a connection error of type FRAME_SIZE_ERROR.\n" +
		"           Expected: GOAWAY Frame (Error Code: FRAME_SIZE_ERROR)\n" +
		"                     Connection closed\n" +
		"             Actual: DATA Frame (length:2, flags:0x01, stream_id:1) & more\n" +
		"\n" +
		"  6. Frame Definitions\n" +
		"    6.5. SETTINGS\n" +
		"      6.5.3. Settings Synchronization\n" +
		"          2: Sends a SETTINGS frame\r        2: Sends a SETTINGS frame\n" +
		"\n" +
		"Failures: \n" +
		"\n" +
		"      × 3: Sends a large size HEADERS frame \"quoted\"\n" +
		"        -> The endpoint MUST respond with a connection error of type FRAME_SIZE_ERROR.\n" +
		"\n" +
		"Finished in 2.0100 seconds\n" +
		"3 tests, 1 passed, 1 skipped, 1 failed\n"

	r, err := parseH2Spec([]byte(report), output)
	if err != nil {
		t.Fatal(err)
	}
	if r.Total() != 3 || r.Passed != 1 || r.Failed != 1 || r.Skipped != 1 {
		t.Fatalf("got %s", r)
	}
	want := []H2SpecCase{
		{ID: "http2/4.2/1", Status: H2SpecPassed},
		{ID: "http2/4.2/3", Status: H2SpecFailed, Message: "-> The endpoint MUST respond with a connection error of type FRAME_SIZE_ERROR.\n" +
			"   Expected: GOAWAY Frame (Error Code: FRAME_SIZE_ERROR)\n" +
			"             Connection closed\n" +
			"     Actual: DATA Frame (length:2, flags:0x01, stream_id:1) & more"},
		{ID: "http2/6.5.3/2", Status: H2SpecSkipped},
	}
	for i, c := range r.Cases {
		if c.ID != want[i].ID || c.Status != want[i].Status || c.Message != want[i].Message {
			t.Errorf("case %d is %+v, want %+v", i, c, want[i])
		}
	}
	if f := r.Failures(); len(f) != 1 || f[0].Desc != `Sends a large size HEADERS frame "quoted"` {
		t.Errorf("Failures are %+v", f)
	}

	// Output that does not list the report's cases leaves their places in
	// their sections as numbers and the report's messages.
	r, err = parseH2Spec([]byte(report), "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Cases[1].ID != "http2/4.2/2" || r.Cases[1].Message != "GOAWAY Frame (Error Code: FRAME_SIZE_ERROR)\nConnection closed\nDATA Frame (length:2, flags:0x01, stream_id:1) & more" {
		t.Errorf("without output: %+v", r.Cases[1])
	}
}
