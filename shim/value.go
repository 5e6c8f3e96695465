package shim

import (
	"time"
)

// Setting is one parsed variable: Set is false when the variable is unset or
// empty, which leaves the kernel's value.
type Setting struct {
	Set   bool
	Value int64 // 0/1 for a switch, seconds, probes or milliseconds
}

// Switch is an on/off word.
type Switch struct{ Setting }

// Mode is KEEPALIVE: an on/off word, or force.
type Mode struct{ Setting }

// Seconds is a keepalive timer (TCP_KEEPIDLE, TCP_KEEPINTVL).
type Seconds struct{ Setting }

// Probes is TCP_KEEPCNT.
type Probes struct{ Setting }

// Millis is TCP_USER_TIMEOUT.
type Millis struct{ Setting }

// Reasons a value is refused: C gives the same ones (KA_WHY_*), and the
// message names it.
var (
	errWord     error = reason(WhyWord)
	errNumber   error = reason(WhyNumber)
	errSyntax   error = reason(WhySyntax)
	errRange    error = reason(WhyRange)
	errFraction error = reason(WhyFraction)
)

func (s *Switch) UnmarshalText(b []byte) error {
	v, err := parseSwitch(string(b))
	s.Set, s.Value = err == nil, v
	return err
}

func (m *Mode) UnmarshalText(b []byte) error {
	v, err := parseSwitch(string(b))
	if err != nil && equalASCIIFold(string(b), "force") {
		v, err = Force, nil
	}
	m.Set, m.Value = err == nil, v
	return err
}

func (s *Seconds) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b), time.Second, Rules[VarIdle])
	s.Set, s.Value = err == nil, v
	return err
}

func (p *Probes) UnmarshalText(b []byte) error {
	v, err := parseCount(string(b), Rules[VarCnt])
	p.Set, p.Value = err == nil, v
	return err
}

func (m *Millis) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b), time.Millisecond, Rules[VarUserTimeout])
	m.Set, m.Value = err == nil, v
	return err
}

// equalASCIIFold is strings.EqualFold without Unicode folding: "yeſ" is not
// "yes" to the C parser, so it must not be to us.
func equalASCIIFold(s, word string) bool {
	if len(s) != len(word) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[i] {
			return false
		}
	}
	return true
}

func parseSwitch(s string) (int64, error) {
	for _, w := range []string{"on", "yes", "true", "1"} {
		if equalASCIIFold(s, w) {
			return 1, nil
		}
	}
	for _, w := range []string{"off", "no", "false", "0"} {
		if equalASCIIFold(s, w) {
			return 0, nil
		}
	}
	return 0, errWord
}

// saturate is where a plain number stops growing; every range ends far below.
const saturate = 1 << 40

// plainNumber reads one or more ASCII digits and nothing else.
func plainNumber(s string) (v int64, ok bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if v < saturate {
			v = v*10 + int64(c-'0')
		}
	}
	return v, true
}

func inRange(v int64, r Rule) (int64, error) {
	if v < r.Min || v > r.Max {
		return 0, errRange
	}
	return v, nil
}

func parseCount(s string, r Rule) (int64, error) {
	v, ok := plainNumber(s)
	if !ok {
		return 0, errNumber
	}
	return inRange(v, r)
}

// parseDuration reads a plain number of seconds, or a Go duration that is a
// whole number of unit, and returns it in unit.
func parseDuration(s string, unit time.Duration, r Rule) (int64, error) {
	if v, ok := plainNumber(s); ok {
		perSecond := int64(time.Second / unit)
		if v > r.Max/perSecond {
			return 0, errRange
		}
		return inRange(v*perSecond, r)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errSyntax
	}
	if d < 0 {
		return 0, errRange
	}
	if d%unit != 0 {
		return 0, errFraction
	}
	return inRange(int64(d/unit), r)
}
