package realtime

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// notification is a bespin_jobs payload, as both senders write it (the
// status triggers and Announcer.encode):
//
//	{"at":<epoch seconds>,"jobs":[[<id>,"<state>"],...]}
type notification struct {
	At   float64 // epoch seconds of the change
	Jobs []jobChange
}

// jobChange is one entry: a job and the state it changed to ("deleted"
// when the row is gone).
type jobChange struct {
	ID    int64
	State string
}

// parseNotification reads a payload. It accepts any JSON of the shape
// above (whitespace, members in either order) and nothing else: no other
// members, no escapes in a state, every id an integer.
//
// Why not encoding/json: at capacity the serve instance reads every
// job's "running" and final notification, and decoding them with
// encoding/json (reflection, a RawMessage per value, a second Unmarshal
// per id and state) and collecting its garbage was over half of its CPU
// (docs/operations.md, "The job feed's own parser"). This allocates the
// entries' slice only; states are substrings of p.
func parseNotification(p string) (notification, error) {
	s := scanner{s: p}
	var n notification
	var sawAt, sawJobs bool
	s.ws()
	if !s.eat('{') {
		return n, s.fail("an object")
	}
	for first := true; ; first = false {
		s.ws()
		if s.eat('}') {
			if !sawAt || !sawJobs {
				return n, errors.New(`want members "at" and "jobs"`)
			}
			break
		}
		if !first && !s.eat(',') {
			return n, s.fail(`"," or "}"`)
		}
		s.ws()
		key, ok := s.str()
		if !ok {
			return n, s.fail("a member name")
		}
		s.ws()
		if !s.eat(':') {
			return n, s.fail(`":"`)
		}
		s.ws()
		switch {
		case key == "at" && !sawAt:
			at, err := strconv.ParseFloat(s.number(), 64)
			if err != nil {
				return n, s.fail("a number for at")
			}
			n.At, sawAt = at, true
		case key == "jobs" && !sawJobs:
			jobs, err := s.jobs()
			if err != nil {
				return n, err
			}
			n.Jobs, sawJobs = jobs, true
		default:
			return n, fmt.Errorf("unexpected member %q", key)
		}
	}
	s.ws()
	if s.i != len(s.s) {
		return n, s.fail("the end")
	}
	return n, nil
}

// jobs reads [[<id>,"<state>"],...].
func (s *scanner) jobs() ([]jobChange, error) {
	if !s.eat('[') {
		return nil, s.fail(`"["`)
	}
	// One allocation: an entry opens with "[" (a state may hold one too,
	// which only leaves room to spare).
	out := make([]jobChange, 0, strings.Count(s.s[s.i:], "["))
	for first := true; ; first = false {
		s.ws()
		if s.eat(']') {
			return out, nil
		}
		if !first {
			if !s.eat(',') {
				return nil, s.fail(`"," or "]"`)
			}
			s.ws()
		}
		if !s.eat('[') {
			return nil, s.fail(`"[" of an entry`)
		}
		s.ws()
		id, err := strconv.ParseInt(s.number(), 10, 64)
		if err != nil {
			return nil, s.fail("an integer id")
		}
		s.ws()
		if !s.eat(',') {
			return nil, s.fail(`","`)
		}
		s.ws()
		state, ok := s.str()
		if !ok {
			return nil, s.fail("a state")
		}
		s.ws()
		if !s.eat(']') {
			return nil, s.fail(`"]" of an entry`)
		}
		out = append(out, jobChange{ID: id, State: state})
	}
}

// scanner walks a payload.
type scanner struct {
	s string
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.s) && (s.s[s.i] == ' ' || s.s[s.i] == '\t' || s.s[s.i] == '\n' || s.s[s.i] == '\r') {
		s.i++
	}
}

func (s *scanner) eat(c byte) bool {
	if s.i < len(s.s) && s.s[s.i] == c {
		s.i++
		return true
	}
	return false
}

// number reads a JSON number (-?int frac? exp?) and returns its text, ""
// when there is none.
func (s *scanner) number() string {
	start := s.i
	s.eat('-')
	if !s.eat('0') && !s.digits() { // after a 0 no digit: no leading zeros
		return ""
	}
	if s.eat('.') && !s.digits() {
		return ""
	}
	if s.eat('e') || s.eat('E') {
		if !s.eat('+') {
			s.eat('-')
		}
		if !s.digits() {
			return ""
		}
	}
	return s.s[start:s.i]
}

// digits reads one or more digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.s) && s.s[s.i] >= '0' && s.s[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// str reads a string of printable ASCII without escapes: member names
// and states have nothing else.
func (s *scanner) str() (string, bool) {
	if !s.eat('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.s) {
		c := s.s[s.i]
		if c == '"' {
			s.i++
			return s.s[start : s.i-1], true
		}
		if c == '\\' || c < 0x20 || c > 0x7e {
			return "", false
		}
		s.i++
	}
	return "", false
}

func (s *scanner) fail(want string) error {
	return fmt.Errorf("want %s at byte %d", want, s.i)
}
