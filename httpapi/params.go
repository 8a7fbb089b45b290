package httpapi

import (
	"strconv"
	"time"
)

// Query parameter parsing shared by the handlers. Every error names the
// parameter and what it accepts (400 invalid_parameter).

const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// intParam parses an optional whole-number query parameter within lo..hi.
func intParam(s, name string, def, lo, hi int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, badRequest("%s must be a whole number from %d to %d.", name, lo, hi)
	}
	return n, nil
}

// timeParam parses an RFC 3339 query parameter, or returns def when empty.
func timeParam(v, name string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, invalidParam(name, "must be an RFC 3339 time like 2026-11-22T10:00:00Z, not %q", v)
	}
	return t.UTC(), nil
}

func optionalParam(v string) *string {
	if v == "" {
		return nil
	}
	return &v
}
