package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// Backoff of a name's own loop, for what certmagic does not retry itself
// (unreadable storage, or its thirty days of retries used up).
const (
	firstBackoff = time.Minute
	maxBackoff   = time.Hour
)

// tend keeps one name's certificate, from Manage adding the name until it is
// dropped or the Manager closes. Every call into certmagic here is
// synchronous, so the name's work is this goroutine and Close can wait for
// it; certmagic's own job queue, which nothing can wait for, is not used.
func (m *Manager) tend(ctx context.Context, e *managed) {
	defer m.wg.Done()
	log := m.log.With(zap.String("identifier", e.name))
	backoff := time.Duration(0)
	failed := func(what string, err error) bool {
		log.Error(what, zap.Error(err))
		backoff = min(max(2*backoff, firstBackoff), maxBackoff)
		return sleep(ctx, backoff)
	}
	// What the last obtain or renewal left: finding nothing new after it
	// means certmagic saw nothing to do, and going straight back to it
	// would spin.
	var obtained bool
	var renewed *x509.Certificate

	for ctx.Err() == nil {
		cert, err := m.load(ctx, e.name)
		if errors.Is(err, fs.ErrNotExist) && obtained {
			err = errors.New("certmagic reported the certificate obtained, but it is not in storage")
		}
		obtained = false
		if errors.Is(err, fs.ErrNotExist) {
			log.Info("no certificate in storage; obtaining one")
			// Non-interactive, with certmagic's backoff between attempts;
			// a no-op when another Manager on this storage got there first.
			err = m.cfg.ObtainCertAsync(ctx, e.name)
			if ctx.Err() != nil {
				return
			}
			if err != nil && !failed("obtaining certificate", err) {
				return
			}
			obtained = err == nil
			continue
		}
		if err != nil {
			if !failed("loading certificate from storage", err) {
				return
			}
			continue
		}
		backoff = 0
		if prev := e.cert.Swap(cert); prev == nil || !prev.Leaf.Equal(cert.Leaf) {
			log.Info("serving certificate",
				zap.String("serial", cert.Leaf.SerialNumber.String()),
				zap.Time("not_after", cert.Leaf.NotAfter))
		}

		due := renewalDue(cert.Leaf)
		for {
			left := time.Until(due)
			if left <= 0 {
				break
			}
			if !sleep(ctx, min(left, renewRecheck)) {
				return
			}
		}
		if renewed != nil && renewed.Equal(cert.Leaf) {
			// certmagic judges again whether the stored certificate needs
			// renewal, and left this one.
			if !sleep(ctx, renewRecheck) {
				return
			}
		}
		renewed = cert.Leaf
		log.Info("renewing certificate", zap.Time("not_after", cert.Leaf.NotAfter))
		err = m.cfg.RenewCertAsync(ctx, e.name, false)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !failed("renewing certificate", err) {
			return
		}
	}
}

// renewalDue is when a third of the certificate's lifetime is left, computed
// as certmagic does (its expiry is NotAfter rounded up to the next second),
// so that certmagic agrees the certificate needs renewal once it is due.
func renewalDue(leaf *x509.Certificate) time.Time {
	expires := leaf.NotAfter.Truncate(time.Second).Add(time.Second)
	life := expires.Sub(leaf.NotBefore)
	return expires.Add(-life / 3)
}

// load reads the name's certificate and key as certmagic stored them for
// this CA. It leaves certmagic's in-memory cache alone: what is there is
// renewed and served by certmagic by itself, and that must stop the moment
// a name leaves the managed set.
func (m *Manager) load(ctx context.Context, name string) (*tls.Certificate, error) {
	certPEM, err := m.storage.Load(ctx, certmagic.StorageKeys.SiteCert(m.issuerKey, name))
	if err != nil {
		return nil, err
	}
	keyPEM, err := m.storage.Load(ctx, certmagic.StorageKeys.SitePrivateKey(m.issuerKey, name))
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("stored certificate: %w", err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("stored certificate: %w", err)
		}
	}
	if err := cert.Leaf.VerifyHostname(name); err != nil {
		return nil, fmt.Errorf("stored certificate: %w", err)
	}
	return &cert, nil
}

// sleep waits d, and reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
