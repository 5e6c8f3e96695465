package shim

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// DefaultFile is where the library reads defaults when there is no
// environment to set (/etc/ld.so.preload). ConfigVar names another file,
// except in a secure-execution process.
const (
	DefaultFile = "/etc/keepalive.conf"
	ConfigVar   = "KEEPALIVE_CONFIG"
)

// FileMax is the longest file read; a longer one is refused whole, as the C
// reader has a fixed buffer.
const FileMax = 4095

// ExcludeVar lists, in the file only, programs the library leaves alone.
const ExcludeVar = "KEEPALIVE_EXCLUDE"

// File is a parsed configuration file: KEY=VALUE lines with the variables'
// names, '#' comments, blank lines; spaces around keys and values are
// trimmed. The last line for a key applies.
type File struct {
	Path     string
	Values   map[string]string // variable -> text, as the environment would hold it
	Exclude  []string
	Dests    []Dest // the rules by destination that were read, in order
	Problems []Problem
	line     map[string]int // variable -> line the value came from
}

// ParseFile reads content, the text of the file at path.
func ParseFile(path string, content []byte) File {
	f := File{Path: path, Values: map[string]string{}, line: map[string]int{}}
	whole := func(err error) File {
		f.Problems = append(f.Problems, Problem{Var: -1, Path: path, Err: err})
		return f
	}
	if len(content) > FileMax {
		return whole(fmt.Errorf(MsgTooLong, FileMax))
	}
	if bytes.IndexByte(content, 0) >= 0 {
		return whole(errors.New(MsgNUL))
	}
	exclude := ""
	for i, raw := range strings.Split(string(content), "\n") {
		l := strings.Trim(strings.TrimSuffix(raw, "\r"), " \t")
		if l == "" || l[0] == '#' {
			continue
		}
		if isDestLine(l) {
			d, p := parseDest(l, i+1)
			if p == nil && len(f.Dests) == DestMax {
				p = &Problem{Var: -1, Line: i + 1, Err: fmt.Errorf(MsgDestTooMany, DestMax)}
			}
			if p != nil {
				p.Path = path
				f.Problems = append(f.Problems, *p)
				continue
			}
			f.Dests = append(f.Dests, d)
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		k, v = strings.Trim(k, " \t"), strings.Trim(v, " \t")
		known := k == ExcludeVar
		for _, r := range Rules {
			known = known || r.Var == k
		}
		if !ok || !known {
			f.Problems = append(f.Problems, Problem{Var: -1, Path: path, Line: i + 1,
				Err: fmt.Errorf(MsgNotSetting, FileKeys())})
			continue
		}
		if prev, again := f.line[k]; again {
			f.Problems = append(f.Problems, Problem{Var: -1, Path: path, Line: i + 1,
				Err: fmt.Errorf(MsgAgain, k, prev)})
		}
		f.line[k] = i + 1
		if k == ExcludeVar {
			exclude = v
			continue
		}
		f.Values[k] = v
	}
	f.Exclude = strings.FieldsFunc(exclude, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
	for k, v := range f.Values {
		_, probs := Load(map[string]string{k: v})
		for _, p := range probs {
			p.Path, p.Line = path, f.line[k]
			f.Problems = append(f.Problems, p)
		}
	}
	sortProblems(f.Problems)
	return f
}

// FileKeys lists the keys a file may set, for messages.
func FileKeys() string {
	var keys []string
	for _, r := range Rules {
		keys = append(keys, r.Var)
	}
	return strings.Join(append(keys, ExcludeVar), ", ")
}

// LoadWith merges the file under the environment (a variable set and not
// empty in the environment wins) and returns the settings and every problem:
// the file's, then the environment's.
func LoadWith(environ map[string]string, f File) (Config, []Problem) {
	merged := map[string]string{}
	maps := []map[string]string{f.Values, environ}
	for _, m := range maps {
		for _, r := range Rules {
			if v := m[r.Var]; v != "" {
				merged[r.Var] = v
			}
		}
	}
	c, _ := Load(merged)
	_, envProblems := Load(environ)
	return c, append(append([]Problem(nil), f.Problems...), envProblems...)
}

// Excluded reports whether a program of one of these names is left alone.
func (f File) Excluded(names ...string) bool {
	for _, n := range names {
		for _, e := range f.Exclude {
			if n != "" && n == e {
				return true
			}
		}
	}
	return false
}

// Line is the line of the file a key's value came from, 0 if none.
func (f File) Line(key string) int { return f.line[key] }
