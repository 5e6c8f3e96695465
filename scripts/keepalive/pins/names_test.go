package pins

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Cgroup paths as systemd, Docker, Podman and Kubernetes make them.
var operatorPaths = []string{
	"/sys/fs/cgroup/system.slice/legacy.service",
	"/sys/fs/cgroup/system.slice/legacy.socket",
	"/sys/fs/cgroup/system.slice",
	"/sys/fs/cgroup/system.slice/system-getty.slice/getty@tty1.service",
	`/sys/fs/cgroup/system.slice/web\x2dfront.service`,
	"/sys/fs/cgroup/system.slice/docker-" + strings.Repeat("0123456789abcdef", 4) + ".scope",
	"/sys/fs/cgroup/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod3b1e3a2c_5f4d_4e7a_9c1b_2d6f8e0a1b2c.slice/cri-containerd-" +
		strings.Repeat("fedcba9876543210", 4) + ".scope",
	"/sys/fs/cgroup/unified/system.slice/legacy.service",
	"/sys/fs/cgroup/machine.slice/libpod-" + strings.Repeat("ab", 32) + ".scope/container",
	"/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-1234.scope",
	"/sys/fs/cgroup",
	"/",
	"/a+b/c%d/e f/\x01/ü/~/x..y/.hidden",
}

// oldEscape is the escaping of release 1.0.0, which kept '.': the control
// that shows the bpffs property below can fail.
func oldEscape(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '/':
			b.WriteByte('+')
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._-@:=", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// wellFormed is what holds of every name, bpffs aside.
func wellFormed(path, name string) error {
	if name == "" || len(name) > NameMax {
		return fmt.Errorf("Name(%q) = %q: %d bytes, want 1 to %d", path, name, len(name), NameMax)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '/' || c == '.' || c < '!' || c > '~' {
			return fmt.Errorf("Name(%q) = %q: byte %q", path, name, c)
		}
	}
	back, ok := PathOf(name)
	if Shortened(name) {
		if ok {
			return fmt.Errorf("PathOf(%q) of a shortened name gave %q", name, back)
		}
		return nil
	}
	if !ok || back != path {
		return fmt.Errorf("PathOf(Name(%q)) = %q, %v (via %q)", path, back, ok, name)
	}
	return nil
}

func TestNameOperatorPaths(t *testing.T) {
	for _, p := range operatorPaths {
		n := Name(p)
		if err := wellFormed(p, n); err != nil {
			t.Error(err)
		}
		if Shortened(n) {
			t.Errorf("Name(%q) is shortened (%d bytes escaped): these fit", p, len(escape(p)))
		}
	}
	if got, want := Name("/sys/fs/cgroup/system.slice/legacy.service"), "+sys+fs+cgroup+system%2Eslice+legacy%2Eservice"; got != want {
		t.Errorf("Name of legacy.service = %q, want %q", got, want)
	}
}

// A path whose escaped name passes NAME_MAX gets a shortened name: one per
// path, ending with the path's last part, and never the name of a path
// that fits.
func TestNameLong(t *testing.T) {
	base := "/sys/fs/cgroup/" + strings.Repeat("deep.slice/", 20)
	a, b := base+"cri-containerd-aaaa.scope", base+"cri-containerd-bbbb.scope"
	na, nb := Name(a), Name(b)
	for _, tc := range []struct{ p, n string }{{a, na}, {b, nb}} {
		if err := wellFormed(tc.p, tc.n); err != nil {
			t.Error(err)
		}
		if !Shortened(tc.n) || len(tc.n) < NameMax-2 {
			t.Errorf("Name(%q) = %q (%d bytes): want a shortened name of %d bytes or 1 or 2 fewer", tc.p, tc.n, len(tc.n), NameMax)
		}
	}
	if na == nb {
		t.Errorf("two long paths share the name %q", na)
	}
	if !strings.HasSuffix(na, "cri-containerd-aaaa%2Escope") {
		t.Errorf("shortened name %q does not end with the cgroup's own name", na)
	}
	if Name(a) != na {
		t.Errorf("Name is not the same twice for %q", a)
	}
	// The tail never starts inside a %XX escape, wherever the cut falls.
	for shift := 0; shift < 6; shift++ {
		p := "/" + strings.Repeat("x", shift) + strings.Repeat(".", 100)
		n := Name(p)
		tail := n[2+hashLen:]
		if len(tail)%3 != 0 || !strings.HasPrefix(tail, "%2E") {
			t.Errorf("Name(%d dots after %d x) = %q: tail cut inside an escape", 100, shift, n)
		}
	}
}

// PathOf takes only what Name writes: anything else is not a pin of ours.
func TestPathOfRefuses(t *testing.T) {
	for _, n := range []string{"a.b", "%2e", "%41", "%2F", "%2", "%G0", "a b", "~x", "+a%"} {
		if p, ok := PathOf(n); ok {
			t.Errorf("PathOf(%q) = %q, want refused", n, p)
		}
	}
}

func TestCheckLoadName(t *testing.T) {
	for _, ok := range []string{"legacy", "web-front", "getty@tty1", "a_b", strings.Repeat("x", NameMax)} {
		if err := CheckLoadName(ok); err != nil {
			t.Errorf("CheckLoadName(%q): %v", ok, err)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"legacy.service", `holds '.'; a NAME may hold only letters, digits, '-', '_' and '@'`},
		{"legacy.service", `try "legacy"`},
		{`web\x2dfront.service`, `holds '\\', '.'`},
		{`web\x2dfront.service`, `try "web-x2dfront"`},
		{"a/b", `holds '/'`},
		{"50%", `holds '%'`},
		{"..", `try "legacy"`},
		{"", "is empty"},
		{"ü", `holds 'ü'`},
		{strings.Repeat("x", NameMax+1), "256 bytes long, over 255"},
	} {
		err := CheckLoadName(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckLoadName(%q) = %v, want %q in it", tc.name, err, tc.want)
		}
	}
}

// randomPath draws a cgroup-like path from the bytes that trouble names:
// dots, '%', '+', '~', backslashes, spaces, UTF-8, and long parts.
func randomPath(r *rand.Rand) string {
	pieces := []string{".", "%", "+", "~", `\`, " ", "ü", "€", "@", ":", "=", "-", "_", "a", "Z", "9", "x2d", ".slice", ".service", "\t", "%2E"}
	var b strings.Builder
	for parts := 1 + r.IntN(8); parts > 0; parts-- {
		b.WriteByte('/')
		for n := 1 + r.IntN(40); n > 0; n-- {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
	}
	return b.String()
}

// checkInBpffs makes each name in a real bpffs and reads it back: the first
// name the kernel refuses or gives back changed is the error.
func checkInBpffs(dir string, paths []string, name func(string) string) error {
	made := map[string]string{}
	for _, p := range paths {
		n := name(p)
		if q, dup := made[n]; dup {
			if q != p {
				return fmt.Errorf("%q and %q share the name %q", p, q, n)
			}
			continue
		}
		if err := os.Mkdir(filepath.Join(dir, n), 0o700); err != nil {
			return fmt.Errorf("bpffs refused the name %q of %q: %w", n, p, err)
		}
		made[n] = p
	}
	all, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	// The kernel's own entries (maps.debug, progs.debug on kernels with
	// bpf_preload) are the names with a dot that ours never have.
	var ents []os.DirEntry
	for _, e := range all {
		if !strings.Contains(e.Name(), ".") {
			ents = append(ents, e)
		}
	}
	if len(ents) != len(made) {
		return fmt.Errorf("bpffs lists %d names, %d made", len(ents), len(made))
	}
	for _, e := range ents {
		p, ok := made[e.Name()]
		if !ok {
			return fmt.Errorf("bpffs lists %q, which was not made", e.Name())
		}
		if back, ok := PathOf(e.Name()); !Shortened(e.Name()) && (!ok || back != p) {
			return fmt.Errorf("%q read back from bpffs gives %q, %v, want %q", e.Name(), back, ok, p)
		}
	}
	return nil
}

// The property against the kernel: for random paths (and the operators'),
// the name can be made in a fresh bpffs and reads back to the same path.
// The same check of release 1.0.0's escaping fails, on the first dot.
func TestNamesInBpffs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED LOUDLY: mounting a bpffs needs root; the names were not tried against the kernel")
	}
	mount := func() string {
		dir := t.TempDir()
		if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
			t.Skipf("SKIPPED LOUDLY: cannot mount bpffs here: %v; the names were not tried against the kernel", err)
		}
		t.Cleanup(func() { unix.Unmount(dir, 0) })
		return dir
	}
	r := rand.New(rand.NewPCG(1, uint64(os.Getpid())))
	paths := append([]string{}, operatorPaths...)
	for i := 0; i < 2000; i++ {
		paths = append(paths, randomPath(r))
	}
	paths = append(paths, "/sys/fs/cgroup/"+strings.Repeat("kubepods-burstable.slice/", 12)+"cri-containerd-x.scope")
	for _, p := range paths {
		if err := wellFormed(p, Name(p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkInBpffs(mount(), paths, Name); err != nil {
		t.Errorf("Name: %v", err)
	}
	err := checkInBpffs(mount(), operatorPaths, oldEscape)
	if err == nil || !errors.Is(err, unix.EPERM) {
		t.Errorf("control: release 1.0.0's names passed (%v); bpffs should refuse their dots, so the check proves nothing", err)
	}
}

func FuzzName(f *testing.F) {
	for _, p := range operatorPaths {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if err := wellFormed(p, Name(p)); err != nil && len(p) > 0 {
			t.Error(err)
		}
	})
}
