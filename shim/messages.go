package shim

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
)

// The words of every message, in one place: rulesh copies them into
// shim/cparse/rules.h, so that the library (which writes its lines from C,
// without the Go runtime) and the keepalive command say the same thing,
// byte for byte (FuzzConfig and FuzzFile hold them to it).

// Why a value is refused, in the order of C's KA_WHY_* codes.
const (
	WhyWord = iota
	WhyNumber
	WhySyntax
	WhyRange
	WhyFraction
	NumWhys
)

// Reasons are the words for each Why.
var Reasons = [NumWhys]string{
	WhyWord:     "not an on/off word",
	WhyNumber:   "not a number",
	WhySyntax:   "not a number or a duration",
	WhyRange:    "out of range",
	WhyFraction: "not a whole number of the unit",
}

// reason is a refusal as an error, for caarlos0/env to carry.
type reason int

func (r reason) Error() string { return Reasons[r] }

// Message pieces for the configuration file. A line that is not a setting
// is never quoted: the file may be one the user cannot read (/etc/shadow
// named through a root process that kept the user's environment).
const (
	Prefix         = "libkeepalive: "
	MsgNotSetting  = "is not a setting: want KEY=VALUE with KEY one of %s, or a rule (to NETWORK [port PORT] KEY=VALUE...); line ignored"
	MsgAgain       = "sets %s again; the earlier line %d is ignored"
	MsgTooLong     = "is longer than %d bytes; the whole file is ignored"
	MsgNUL         = "holds a NUL byte; the whole file is ignored"
	MsgMissing     = "does not exist; only the environment's settings apply"
	MsgNotRegular  = "is %s, not a regular file; the whole file is ignored"
	MsgCannotRead  = "cannot be read (%s); the whole file is ignored"
	MsgSecureDebug = "libkeepalive: KEEPALIVE_DEBUG is ignored in a setuid, setgid or file-capability process; debug lines stay off"
)

// FileKinds names what a configuration path is when it is not a regular
// file, by its S_IFMT bits.
var FileKinds = []struct {
	Mode uint32
	Name string
}{
	{syscall.S_IFDIR, "a directory"},
	{syscall.S_IFIFO, "a FIFO"},
	{syscall.S_IFSOCK, "a socket"},
	{syscall.S_IFCHR, "a character device"},
	{syscall.S_IFBLK, "a block device"},
}

func fileKind(mode uint32) string {
	for _, k := range FileKinds {
		if mode&syscall.S_IFMT == k.Mode {
			return k.Name
		}
	}
	return UnknownKind
}

// UnknownKind names a file type FileKinds does not list.
const UnknownKind = "of an unknown type"

// Errnos are the errors opening or reading a file may give, with Go's words
// for them; C prints the same words, not strerror's.
var Errnos = []struct {
	Name  string // the C macro
	Errno syscall.Errno
}{
	{"EACCES", syscall.EACCES}, {"EPERM", syscall.EPERM}, {"ELOOP", syscall.ELOOP},
	{"ENAMETOOLONG", syscall.ENAMETOOLONG}, {"ENOTDIR", syscall.ENOTDIR}, {"EIO", syscall.EIO},
	{"EMFILE", syscall.EMFILE}, {"ENFILE", syscall.ENFILE}, {"ENOMEM", syscall.ENOMEM},
	{"ENXIO", syscall.ENXIO}, {"ENODEV", syscall.ENODEV}, {"EOVERFLOW", syscall.EOVERFLOW},
	{"EISDIR", syscall.EISDIR}, {"EAGAIN", syscall.EAGAIN}, {"EINVAL", syscall.EINVAL},
	{"EFAULT", syscall.EFAULT}, {"ESTALE", syscall.ESTALE}, {"EINTR", syscall.EINTR},
}

// ErrnoWord precedes the number of an errno Errnos does not list.
const ErrnoWord = "errno "

func errnoWords(e syscall.Errno) string {
	for _, k := range Errnos {
		if k.Errno == e {
			return e.Error()
		}
	}
	return ErrnoWord + strconv.Itoa(int(e))
}

// MaxShown bounds how much of a bad value a message repeats, MaxPath how
// much of a path.
const (
	MaxShown = 64
	MaxPath  = 256
)

// Quote is the library's quoting: printable ASCII stays, '"' and '\' are
// escaped with a backslash, every other byte is \xNN. Nothing a message
// repeats can reach a terminal as a control sequence.
func Quote(s string) string { return QuoteWith(s, "\\x%02x") }

// QuoteWith is Quote with the escape of other bytes given as a format of
// one byte (the C rules' generator writes them as octal, which C reads as
// one byte where \x would run on into the next hex digit).
func QuoteWith(s, escape string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, escape, c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// showValue is a value as a message repeats it.
func showValue(v string) string {
	if len(v) > MaxShown {
		return Quote(v[:MaxShown]) + "..."
	}
	return Quote(v)
}

// ShowPath is a path as a message repeats it: as it is when it is plain
// printable ASCII, else quoted; cut after MaxPath bytes.
func ShowPath(p string) string {
	cut := ""
	if len(p) > MaxPath {
		p, cut = p[:MaxPath], "..."
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return Quote(p) + cut
		}
	}
	return p + cut
}
