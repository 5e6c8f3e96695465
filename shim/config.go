package shim

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/caarlos0/env/v11"
)

// Config is what the environment asks for. Its env tags name the variables
// of Rules, in the same order (TestConfigMatchesRules).
type Config struct {
	Keepalive   Switch  `env:"KEEPALIVE"`
	Idle        Seconds `env:"KEEPIDLE"`
	Intvl       Seconds `env:"KEEPINTVL"`
	Cnt         Probes  `env:"KEEPCNT"`
	UserTimeout Millis  `env:"KEEPUSERTIMEOUT"`
	Debug       Switch  `env:"KEEPALIVE_DEBUG"`
}

// Settings returns the fields in the order of Rules.
func (c *Config) Settings() [NumVars]Setting {
	return [NumVars]Setting{c.Keepalive.Setting, c.Idle.Setting, c.Intvl.Setting,
		c.Cnt.Setting, c.UserTimeout.Setting, c.Debug.Setting}
}

// Enabled reports whether sockets are to be touched at all.
func (c *Config) Enabled() bool { return !c.Keepalive.Set || c.Keepalive.Value == 1 }

// Problem is one variable whose value was not accepted.
type Problem struct {
	Var   int    // index into Rules; -1 for a line of the file that is not a setting
	Where string // "" for the environment; the file, or file:line
	Value string
	Err   error
}

// maxShown bounds how much of a bad value a message repeats.
const maxShown = 64

// Message is the line printed for the problem: the variable, the value, what
// is accepted and what was done instead.
func (p Problem) Message() string {
	where := ""
	if p.Where != "" {
		where = p.Where + ": "
	}
	v := p.Value
	cut := ""
	if len(v) > maxShown {
		v, cut = v[:maxShown], "..."
	}
	if p.Var < 0 {
		if p.Value == "" {
			return fmt.Sprintf("libkeepalive: %s %v", p.Where, p.Err)
		}
		return fmt.Sprintf("libkeepalive: %s%s%s %v", where, strconv.Quote(v), cut, p.Err)
	}
	r := Rules[p.Var]
	return fmt.Sprintf("libkeepalive: %s%s=%s%s is %v: want %s; %s",
		where, r.Var, strconv.Quote(v), cut, p.Err, r.Want, r.Instead)
}

// sortProblems puts problems in the order of the file's lines.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return lineOf(a.Where) - lineOf(b.Where) })
}

func lineOf(where string) int {
	i := strings.LastIndexByte(where, ':')
	n, _ := strconv.Atoi(where[i+1:])
	return n
}

// fieldVar maps a Config field name to its index in Rules.
var fieldVar = func() map[string]int {
	m := map[string]int{}
	t := reflect.TypeFor[Config]()
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("env")
		for v, r := range Rules {
			if r.Var == tag {
				m[t.Field(i).Name] = v
			}
		}
	}
	return m
}()

// Load reads the variables from environ. Each bad value becomes a Problem
// and leaves its setting unset; the good ones apply.
func Load(environ map[string]string) (Config, []Problem) {
	var c Config
	err := env.ParseWithOptions(&c, env.Options{Environment: environ})
	if err == nil {
		return c, nil
	}
	var probs []Problem
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		agg.Errors = []error{err}
	}
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			// env only fails to parse here; anything else is a bug of ours.
			panic(fmt.Sprintf("libkeepalive: unexpected configuration error: %v", e))
		}
		v := fieldVar[pe.Name]
		probs = append(probs, Problem{Var: v, Value: environ[Rules[v].Var], Err: pe.Err})
	}
	return c, probs
}
