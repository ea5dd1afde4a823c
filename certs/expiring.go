package certs

import (
	"crypto/x509"
	"time"
)

// Expiring reports whether leaf expires before now+within (for the 14-day warning).
// A nil leaf is not expiring: there is no date to warn about.
func Expiring(leaf *x509.Certificate, now time.Time, within time.Duration) bool {
	return leaf != nil && leaf.NotAfter.Before(now.Add(within))
}
