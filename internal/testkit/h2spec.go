package testkit

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// h2spec, the HTTP/2 conformance tester, against a server under test: a
// tool dependency of the module (go.mod's tool block) like pebble, built
// at most once per test binary into the same cache.

const h2specPkg = "github.com/summerwind/h2spec/cmd/h2spec"

var h2specTool = &toolBuild{name: "h2spec", pkgs: []string{h2specPkg}}

// H2SpecOptions say what h2spec tests and how.
type H2SpecOptions struct {
	// Host and Port are the server's address; Host defaults to 127.0.0.1.
	Host string
	Port int
	// TLS connects over TLS (ALPN h2) without checking the server's
	// certificate; otherwise h2spec speaks h2c with prior knowledge.
	TLS bool
	// Timeout is how long h2spec waits for an answer in each case, in
	// whole seconds (rounded up); 0 is 2 s.
	Timeout time.Duration
	// Sections limits the run to these spec ids, as h2spec takes them:
	// "http2" (a whole spec: also "generic" and "hpack"), "http2/5.1" (a
	// section and its subsections) or "http2/5.1/3" (one case, an
	// H2SpecCase's ID). None runs every case.
	Sections []string
}

// H2SpecStatus is how a case ended.
type H2SpecStatus string

const (
	H2SpecPassed  H2SpecStatus = "passed"
	H2SpecFailed  H2SpecStatus = "failed"
	H2SpecSkipped H2SpecStatus = "skipped"
)

// H2SpecCase is one test case h2spec ran.
type H2SpecCase struct {
	// ID names the case for H2SpecOptions.Sections: "http2/5.1/3", the
	// third case of the section Group, "http2/5.1".
	ID, Group string
	// Desc is what the case sends, as h2spec words it.
	Desc   string
	Status H2SpecStatus
	// Message is why a failed case failed: the requirement, what was
	// expected and what came instead.
	Message string
	Time    time.Duration
}

func (c H2SpecCase) String() string {
	s := fmt.Sprintf("%s %s: %s", c.ID, c.Desc, c.Status)
	if c.Message != "" {
		s += "\n" + c.Message
	}
	return s
}

// H2SpecResult is what one h2spec run found.
type H2SpecResult struct {
	Cases                   []H2SpecCase
	Passed, Failed, Skipped int
	// Duration is how long the run took; Output is what h2spec printed.
	Duration time.Duration
	Output   string
}

// Total is how many cases ran.
func (r H2SpecResult) Total() int { return len(r.Cases) }

// Failures are the cases that failed.
func (r H2SpecResult) Failures() []H2SpecCase {
	var f []H2SpecCase
	for _, c := range r.Cases {
		if c.Status == H2SpecFailed {
			f = append(f, c)
		}
	}
	return f
}

// String is h2spec's summary line.
func (r H2SpecResult) String() string {
	return fmt.Sprintf("%d tests, %d passed, %d skipped, %d failed", r.Total(), r.Passed, r.Skipped, r.Failed)
}

// H2Spec runs h2spec against the server at o's address and returns what
// each case found; failed cases do not fail the test, which decides what
// to expect of them. It skips the test only when h2spec cannot be built
// for lack of network, and fails it when h2spec does not finish its run
// (it stops at a connection it cannot open), finds no case to run, or
// runs past its limit of minutes, or the test's end.
func H2Spec(t testing.TB, o H2SpecOptions) H2SpecResult {
	t.Helper()
	bin := h2specTool.need(t)[0]
	if o.Port == 0 {
		t.Fatal("H2Spec: no port")
	}
	host := o.Host
	if host == "" {
		host = "127.0.0.1"
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	secs := int((timeout + time.Second - 1) / time.Second)
	report := filepath.Join(t.TempDir(), "h2spec.xml")
	args := []string{"-h", host, "-p", strconv.Itoa(o.Port), "-o", strconv.Itoa(secs), "-j", report}
	if o.TLS {
		args = append(args, "-t", "-k")
	}
	args = append(args, o.Sections...)

	// A full run is about 150 cases, each of which may wait out the
	// timeout.
	limit := max(5*time.Minute, 160*time.Duration(secs)*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), limit)
	defer cancel()
	out := &SyncBuffer{}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	exited, err := startChild(cmd)
	if err != nil {
		t.Fatalf("h2spec: %v", err)
	}
	<-exited
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		t.Fatalf("h2spec %s stopped after %v (%v):\n%s", strings.Join(args, " "), elapsed.Round(time.Second), ctx.Err(), out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		if strings.Contains(out.String(), "No matched tests found") {
			t.Fatalf("h2spec: no case matches %q", o.Sections)
		}
		t.Fatalf("h2spec %s wrote no report (%v):\n%s", strings.Join(args, " "), cmd.ProcessState, out)
	}
	r, err := parseH2Spec(data, out.String())
	if err != nil {
		t.Fatalf("h2spec's report: %v\n%s", err, data)
	}
	r.Duration = elapsed
	return r
}

// junitReport is the part of h2spec's JUnit report that says what each
// case found: a testsuite for each section, whose package is the
// section's id.
type junitReport struct {
	Suites []struct {
		Cases []struct {
			Package string     `xml:"package,attr"`
			Desc    string     `xml:"classname,attr"`
			Time    string     `xml:"time,attr"`
			Failure *junitText `xml:"failure"`
			Error   *junitText `xml:"error"`
			Skipped *junitText `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// junitText is as h2spec wrote it, which is without escaping.
type junitText struct {
	Text string `xml:",innerxml"`
}

// parseH2Spec reads the cases from h2spec's JUnit report, and their
// numbers and failure messages from its output: the report lists the
// cases that ran in the order they ran but without their numbers, and
// gives only expected and actual frames for a failure. Should the output
// not list the same cases, a case's number is its place in its section
// (right unless Sections named single cases) and the message the
// report's.
func parseH2Spec(report []byte, output string) (H2SpecResult, error) {
	var rep junitReport
	d := xml.NewDecoder(bytes.NewReader(report))
	d.Strict = false
	if err := d.Decode(&rep); err != nil {
		return H2SpecResult{}, err
	}
	r := H2SpecResult{Output: output}
	for _, s := range rep.Suites {
		for i, c := range s.Cases {
			hc := H2SpecCase{
				ID:     fmt.Sprintf("%s/%d", c.Package, i+1),
				Group:  c.Package,
				Desc:   c.Desc,
				Status: H2SpecPassed,
			}
			if secs, err := strconv.ParseFloat(c.Time, 64); err == nil {
				hc.Time = time.Duration(secs * float64(time.Second))
			}
			switch {
			case c.Skipped != nil:
				hc.Status = H2SpecSkipped
				r.Skipped++
			case c.Failure != nil || c.Error != nil:
				hc.Status = H2SpecFailed
				msg := c.Error
				if msg == nil {
					msg = c.Failure
				}
				hc.Message = strings.TrimSpace(msg.Text)
				r.Failed++
			default:
				r.Passed++
			}
			r.Cases = append(r.Cases, hc)
		}
	}

	printed := h2specPrinted(output)
	if len(printed) != len(r.Cases) {
		return r, nil
	}
	for i, p := range printed {
		if p.desc != r.Cases[i].Desc {
			return r, nil
		}
	}
	for i, p := range printed {
		c := &r.Cases[i]
		c.ID = fmt.Sprintf("%s/%d", c.Group, p.seq)
		if c.Status == H2SpecFailed && p.detail != "" {
			c.Message = p.detail
		}
	}
	return r, nil
}

// h2specCase is a case as h2spec prints it: "✔ 3: desc" (passed),
// "× 3: desc" (failed, followed by lines more indented that say why) or
// "3: desc" (skipped), after the same line without a mark and a carriage
// return.
var h2specCase = regexp.MustCompile(`^(\s*)(?:[✔×] )?(\d+): (.*)$`)

type h2specLine struct {
	seq    int
	desc   string
	detail string
}

// h2specPrinted are the cases in h2spec's output, in order; the
// summary of failures after the run repeats some, and is not read.
func h2specPrinted(output string) []h2specLine {
	var cases []h2specLine
	var detail []string
	indent := ""
	flush := func() {
		if len(cases) > 0 && len(detail) > 0 {
			cases[len(cases)-1].detail = strings.Join(detail, "\n")
		}
		detail = nil
	}
	for _, line := range strings.Split(output, "\n") {
		if i := strings.LastIndexByte(line, '\r'); i >= 0 {
			line = line[i+1:]
		}
		if strings.HasPrefix(line, "Failures:") || strings.HasPrefix(line, "Finished in ") {
			break
		}
		if strings.TrimSpace(line) == "" {
			flush()
			indent = ""
			continue
		}
		if m := h2specCase.FindStringSubmatch(line); m != nil {
			flush()
			seq, _ := strconv.Atoi(m[2])
			cases = append(cases, h2specLine{seq: seq, desc: m[3]})
			indent = m[1] + "  "
			continue
		}
		if indent != "" && strings.HasPrefix(line, indent) {
			detail = append(detail, strings.TrimPrefix(line, indent))
		}
	}
	flush()
	return cases
}
