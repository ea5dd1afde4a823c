package static

import (
	"strconv"
	"time"

	"github.com/moreweb/moreweb/handlers"
	"github.com/moreweb/moreweb/parser"
)

// validators describe the representation about to be sent (the sidecar when
// one is chosen), RFC 9110 §8.8. They are made once per cache entry.
type validators struct {
	etag         string    // strong, quoted
	modtime      time.Time // whole seconds, as HTTP dates have
	lastModified string    // modtime as an HTTP-date
}

// newValidators derives a strong ETag from the mtime, size, inode and ctime
// (fileID): anything that rewrites or replaces the file changes at least one
// of them, and a strong
// tag lets clients resume downloads with If-Range. The coding is part of the
// tag so that two variants can never share one (§8.8.3.3), even when a
// sidecar is a link to the same inode.
func newValidators(id fileID, coding string, now time.Time) validators {
	var buf [80]byte
	b := append(buf[:0], '"')
	b = strconv.AppendInt(b, id.mtime, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, id.size, 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, id.ino, 16)
	b = append(b, '-')
	b = strconv.AppendInt(b, id.ctime, 16)
	if coding != "" {
		b = append(b, '-')
		b = append(b, coding...)
	}
	b = append(b, '"')
	sec := time.Unix(0, id.mtime).Truncate(time.Second)
	// §8.8.2.1: a Last-Modified later than the response's Date is replaced
	// by the Date (clock skew, files extracted with future times). The
	// entry keeps the time it was made, which stays earlier than any
	// later Date.
	if sec.After(now) {
		sec = time.Unix(now.Unix(), 0)
	}
	return validators{etag: string(b), modtime: sec, lastModified: sec.UTC().Format(parser.TimeFormat)}
}

// precondition is the outcome of evaluating the conditional header fields.
type precondition uint8

const (
	proceed     precondition = iota
	notModified              // 304
	failed                   // 412
)

// checkPreconditions evaluates RFC 9110 §13.2.2 steps 1 to 4 in order; step
// 5 (Range with If-Range) is the caller's.
func checkPreconditions(r *handlers.Request, v *validators, now time.Time) precondition {
	h := r.Header
	// Step 1 and 2: If-Match, else If-Unmodified-Since.
	if present, match := matchETags(h, "If-Match", v.etag, false); present {
		if !match {
			return failed
		}
	} else if t, ok := headerDate(h, "If-Unmodified-Since"); ok && v.modtime.After(t) {
		return failed
	}
	safe := r.Method == "GET" || r.Method == "HEAD"
	// Step 3 and 4: If-None-Match, else If-Modified-Since (GET/HEAD only).
	if present, match := matchETags(h, "If-None-Match", v.etag, true); present {
		if match {
			if safe {
				return notModified
			}
			return failed
		}
	} else if safe {
		// §13.1.3: a date later than our clock is invalid and ignored.
		if t, ok := headerDate(h, "If-Modified-Since"); ok && !t.After(now) && !v.modtime.After(t) {
			return notModified
		}
	}
	return proceed
}

// ifRangeMatches is §13.1.5: the range applies only if the validator the
// client holds is still current. An entity-tag is compared strongly (so a
// weak one never matches); a date must equal Last-Modified exactly.
func ifRangeMatches(r *handlers.Request, v *validators) bool {
	ir := r.Header.Get("If-Range")
	if ir == nil {
		return true
	}
	if len(ir) == 0 {
		return false // "If-Range:" with no value validates nothing: send it whole
	}
	if ir[0] == '"' || (len(ir) > 1 && ir[0] == 'W' && ir[1] == '/') {
		return string(ir) == v.etag
	}
	t, ok := parseHTTPDate(ir)
	return ok && t.Equal(v.modtime)
}

// matchETags looks for etag in every field named name: entity-tag lists
// (§8.8.3) or "*", which matches because the representation exists. A field
// with no element counts as absent; one that does not parse as a list of
// entity-tags is present and matches nothing. weak selects weak comparison
// (§8.8.3.2), which If-None-Match uses; If-Match compares strongly.
func matchETags(h *parser.Header, name, etag string, weak bool) (present, match bool) {
	h.Values(name, func(v []byte) {
		for len(v) > 0 && !match {
			switch c := v[0]; {
			case c == ' ' || c == '\t' || c == ',':
				v = v[1:]
				continue
			case c == '*':
				present, match = true, true
				return
			}
			present = true
			isWeak := len(v) > 2 && v[0] == 'W' && v[1] == '/'
			if isWeak {
				v = v[2:]
			}
			if v[0] != '"' {
				return // not an entity-tag: ignore the rest of the field
			}
			end := 1
			for end < len(v) && v[end] != '"' {
				end++
			}
			if end == len(v) {
				return
			}
			if (weak || !isWeak) && string(v[:end+1]) == etag {
				match = true
			}
			v = v[end+1:]
		}
	})
	return present, match
}

// headerDate is the first field named name as an HTTP-date; an invalid date
// is ignored, as §13.1.3 and §13.1.4 require.
func headerDate(h *parser.Header, name string) (time.Time, bool) {
	v := h.Get(name)
	if v == nil {
		return time.Time{}, false
	}
	return parseHTTPDate(v)
}

// parseHTTPDate accepts the three formats a recipient must (RFC 9110
// §5.6.7): IMF-fixdate, the obsolete RFC 850 form and asctime.
func parseHTTPDate(b []byte) (time.Time, bool) {
	s := string(b)
	for _, layout := range [...]string{parser.TimeFormat, time.RFC850, time.ANSIC} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
