package shim

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"

	"github.com/caarlos0/env/v11"
)

// Config is what the environment asks for. Its env tags name the variables
// of Rules, in the same order (TestConfigMatchesRules).
type Config struct {
	Keepalive   Mode    `env:"KEEPALIVE"`
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
func (c *Config) Enabled() bool { return !c.Keepalive.Set || c.Keepalive.Value != 0 }

// Forced reports whether KEEPALIVE=force keeps the operator's values over
// the program's own.
func (c *Config) Forced() bool { return c.Keepalive.Set && c.Keepalive.Value == Force }

// Problem is one value, line or file the library could not accept.
type Problem struct {
	Var   int    // index into Rules; -1 for the file itself or one of its lines
	Path  string // the file; "" for the environment
	Line  int    // the file's line; 0 for the whole file
	Value string // the value refused, when Var >= 0
	Err   error
	Dest  bool // the value is a rule's (to NETWORK ...): the rule is ignored
}

// Message is the line printed for the problem: for a value, the variable,
// the value, what is accepted and what was done instead.
func (p Problem) Message() string {
	where := ""
	if p.Path != "" {
		where = ShowPath(p.Path)
		if p.Line > 0 {
			where += ":" + strconv.Itoa(p.Line)
		}
	}
	if p.Var < 0 {
		return Prefix + where + " " + p.Err.Error()
	}
	if where != "" {
		where += ": "
	}
	r := Rules[p.Var]
	if p.Dest {
		r.Instead = MsgDestInstead
		if p.Var == VarKeepalive {
			r.Want = MsgDestSwitch
		}
	}
	return Prefix + where + r.Var + "=" + showValue(p.Value) + " is " + p.Err.Error() + ": want " + r.Want + "; " + r.Instead
}

// sortProblems puts problems in the order of the file's lines.
func sortProblems(ps []Problem) {
	slices.SortStableFunc(ps, func(a, b Problem) int { return a.Line - b.Line })
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
