package h2

import (
	"time"

	"golang.org/x/net/http2"
)

// floodGuard bounds the frames a client can make the server work for
// without asking for anything: each kind has a budget that refills with
// time, and a client that spends it ends its connection with GOAWAY
// ENHANCE_YOUR_CALM (the 2019 flood family and Rapid Reset, CVE-2019-9512,
// -9514, -9515, -9518, CVE-2023-44487). The budgets are far above what
// browsers send: a page load pings a few times and cancels a few streams.
type floodGuard struct {
	pings, settings, resets, emptyData, windowUpdates budget
}

// budget is a token bucket read only when its kind of frame arrives, so
// ordinary traffic never looks at the clock for it.
type budget struct {
	used float64
	last time.Time
}

// Burst and refill rate of each kind, per connection.
const (
	floodBurst = 200
	floodRate  = 20 // per second
)

var errCalm = connError{http2.ErrCodeEnhanceYourCalm, "too many frames that ask for nothing"}

func (b *budget) spend() error {
	now := time.Now()
	if !b.last.IsZero() {
		b.used = max(0, b.used-now.Sub(b.last).Seconds()*floodRate)
	}
	b.last = now
	b.used++
	if b.used > floodBurst {
		return errCalm
	}
	return nil
}
