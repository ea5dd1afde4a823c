package server

import (
	"io"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/moreweb/moreweb/config"
)

// logSwitch is the error and lifecycle log. Its level and format follow
// [server] log_level and log_format: a reload swaps the core, and every
// logger made from it, named children included, writes through the new one
// from its next line.
type logSwitch struct {
	out  zapcore.WriteSyncer
	core atomic.Pointer[coreRef]
}

// coreRef boxes a core so that its identity can be compared.
type coreRef struct{ zapcore.Core }

func newLogSwitch(s *config.Server, out io.Writer) *logSwitch {
	ls := &logSwitch{out: zapcore.Lock(zapcore.AddSync(out))}
	ls.set(s)
	return ls
}

func (ls *logSwitch) set(s *config.Server) {
	level := zapcore.InfoLevel
	level.UnmarshalText([]byte(s.LogLevel)) // validated by config
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	enc.EncodeDuration = zapcore.StringDurationEncoder
	var encoder zapcore.Encoder
	if s.LogFormat == "json" {
		encoder = zapcore.NewJSONEncoder(enc)
	} else {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	}
	ls.core.Store(&coreRef{zapcore.NewCore(encoder, ls.out, level)})
}

func (ls *logSwitch) logger() *zap.Logger { return zap.New(&switchCore{ls: ls}) }

// switchCore is a zapcore.Core that writes through the logSwitch's current
// core, with the fields added by With on the way to it.
type switchCore struct {
	ls     *logSwitch
	fields []zapcore.Field
	// derived caches the current core with fields added, and which core
	// it was made from.
	derived atomic.Pointer[[2]*coreRef]
}

func (c *switchCore) current() zapcore.Core {
	base := c.ls.core.Load()
	if len(c.fields) == 0 {
		return base.Core
	}
	if d := c.derived.Load(); d != nil && d[0] == base {
		return d[1].Core
	}
	core := &coreRef{base.Core.With(c.fields)}
	c.derived.Store(&[2]*coreRef{base, core})
	return core.Core
}

func (c *switchCore) Enabled(l zapcore.Level) bool { return c.ls.core.Load().Enabled(l) }

func (c *switchCore) With(fields []zapcore.Field) zapcore.Core {
	return &switchCore{ls: c.ls, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

func (c *switchCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *switchCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	return c.current().Write(e, fields)
}

func (c *switchCore) Sync() error { return c.ls.out.Sync() }
