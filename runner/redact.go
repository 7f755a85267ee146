package runner

import (
	"context"
	"log/slog"
	"net/url"
	"strings"
)

// redactor removes secrets from text that may reach logs or errors: child
// tools and SDKs sometimes echo a connection string or an argument.
type redactor struct {
	repl *strings.Replacer
}

const redactedMark = "[REDACTED]"

// newRedactor hides each secret as given and in every encoding the runner
// itself writes it in: URL query and path escaping, and a URL's user part
// (a connection string's password: "ab:c;d" is written "ab%3Ac;d"). Secrets shorter
// than 3 characters are not searched for: they would mangle every message
// (and are not worth the name).
func newRedactor(secrets ...string) *redactor {
	var pairs []string
	for _, s := range secrets {
		if len(s) < 3 {
			continue
		}
		pairs = append(pairs, s, redactedMark)
		for _, e := range []string{url.QueryEscape(s), url.PathEscape(s), userinfoEscape(s)} {
			if e != s {
				pairs = append(pairs, e, redactedMark)
			}
		}
	}
	if len(pairs) == 0 {
		return &redactor{}
	}
	return &redactor{repl: strings.NewReplacer(pairs...)}
}

// userinfoEscape is s as net/url writes it as a URL's password.
func userinfoEscape(s string) string {
	return strings.TrimPrefix(url.UserPassword("", s).String(), ":")
}

func (r *redactor) String(s string) string {
	if r == nil || r.repl == nil {
		return s
	}
	return r.repl.Replace(s)
}

// Err returns err with any secret removed from its message; errors.Is and As
// still see the original chain.
func (r *redactor) Err(err error) error {
	if err == nil || r == nil || r.repl == nil {
		return err
	}
	msg := err.Error()
	clean := r.String(msg)
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// Handler wraps h so that no record carries a secret: message, string
// attributes, errors and anything formatted.
func (r *redactor) Handler(h slog.Handler) slog.Handler {
	return &redactingHandler{h: h, r: r}
}

type redactingHandler struct {
	h slog.Handler
	r *redactor
}

func (h *redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.h.Enabled(ctx, l)
}

func (h *redactingHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.h.Handle(ctx, out)
}

func (h *redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.r.String(v.String()))
	case slog.KindGroup:
		var as []any
		for _, g := range v.Group() {
			as = append(as, h.attr(g))
		}
		return slog.Group(a.Key, as...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.r.String(err.Error()))
		}
		return slog.String(a.Key, h.r.String(v.String()))
	}
	return a
}

func (h *redactingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(as))
	for i, a := range as {
		clean[i] = h.attr(a)
	}
	return &redactingHandler{h: h.h.WithAttrs(clean), r: h.r}
}

func (h *redactingHandler) WithGroup(name string) slog.Handler {
	return &redactingHandler{h: h.h.WithGroup(name), r: h.r}
}
