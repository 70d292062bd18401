package memberlist

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
)

// logHandler writes swim's structured logs in memberlist's format, one line per record:
// "[LEVEL] memberlist: message key=value ...", with memberlist's levels DEBUG, INFO, WARN
// and ERR, so that level filters built for memberlist's output keep working.
type logHandler struct {
	out   *log.Logger
	attrs string // pre-rendered " key=value" pairs from WithAttrs
	group string // prefix for keys, from WithGroup
}

// newLogger returns the slog.Logger a member logs to: conf.Logger, or a logger on
// conf.LogOutput, or on standard error.
func newLogger(conf *Config) *slog.Logger {
	out := conf.Logger
	if out == nil {
		w := conf.LogOutput
		if w == nil {
			w = os.Stderr
		}
		out = log.New(w, "", log.LstdFlags)
	}
	return slog.New(&logHandler{out: out})
}

func (h *logHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(levelOf(r.Level))
	b.WriteString(" memberlist: ")
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		h.appendAttr(&b, h.group, a)
		return true
	})
	return h.out.Output(2, b.String())
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range attrs {
		h.appendAttr(&b, h.group, a)
	}
	return &logHandler{out: h.out, attrs: b.String(), group: h.group}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &logHandler{out: h.out, attrs: h.attrs, group: h.group + name + "."}
}

func (h *logHandler) appendAttr(b *strings.Builder, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			h.appendAttr(b, prefix+a.Key+".", g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	s := v.String()
	if strings.ContainsAny(s, " \t\"=") || s == "" {
		s = fmt.Sprintf("%q", s)
	}
	b.WriteString(" ")
	b.WriteString(prefix)
	b.WriteString(a.Key)
	b.WriteString("=")
	b.WriteString(s)
}

func levelOf(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "[ERR]"
	case l >= slog.LevelWarn:
		return "[WARN]"
	case l >= slog.LevelInfo:
		return "[INFO]"
	}
	return "[DEBUG]"
}
