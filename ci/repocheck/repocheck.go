// Package repocheck checks what a repository tracks: no build outputs, no
// executables, no large blobs. A 26.7 MB binary once sat at the root of this
// repository; `make lint` runs this check so one cannot come back.
package repocheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// MaxFileBytes is the largest tracked file allowed. Source, templates,
// dashboards and fuzz seeds are far below it; anything larger is a blob that
// belongs in a release artifact, not in git.
const MaxFileBytes = 1 << 20

// Finding is one tracked file that should not be tracked.
type Finding struct {
	Path   string
	Reason string
}

func (f Finding) String() string { return f.Path + ": " + f.Reason }

// Check lists the files git tracks in dir and reports those larger than
// MaxFileBytes and those that are compiled executables (ELF, Mach-O, PE,
// WebAssembly) or carry the executable bit without being a script.
func Check(ctx context.Context, dir string) ([]Finding, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "-C", dir, "ls-files", "-s", "-z")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s: %w: %s", dir, err, bytes.TrimSpace(stderr.Bytes()))
	}
	var findings []Finding
	for _, entry := range bytes.Split(out, []byte{0}) {
		if len(entry) == 0 {
			continue
		}
		// "<mode> <object> <stage>\t<path>"
		meta, path, ok := bytes.Cut(entry, []byte{'\t'})
		if !ok {
			return nil, fmt.Errorf("git ls-files: unexpected entry %q", entry)
		}
		mode, _, _ := bytes.Cut(meta, []byte{' '})
		f, err := checkFile(filepath.Join(dir, string(path)), string(mode) == "100755")
		if err != nil {
			return nil, err
		}
		if f != "" {
			findings = append(findings, Finding{Path: string(path), Reason: f})
		}
	}
	return findings, nil
}

// executableMagic are the first bytes of compiled programs.
var executableMagic = []struct {
	name  string
	magic []byte
}{
	{"ELF executable", []byte("\x7fELF")},
	{"Mach-O executable", []byte{0xcf, 0xfa, 0xed, 0xfe}},
	{"Mach-O executable", []byte{0xce, 0xfa, 0xed, 0xfe}},
	{"Mach-O universal binary", []byte{0xca, 0xfe, 0xba, 0xbe}},
	{"WebAssembly module", []byte("\x00asm")},
	{"Windows executable", []byte("MZ")},
}

func checkFile(path string, execBit bool) (string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return "", nil // deleted in the work tree: git status shows it
	}
	if err != nil {
		return "", fmt.Errorf("check %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("check %s: %w", path, err)
	}
	if st.IsDir() { // a submodule
		return "", nil
	}
	if st.Size() > MaxFileBytes {
		return fmt.Sprintf("%d bytes, more than the %d allowed: build outputs and data belong outside git", st.Size(), MaxFileBytes), nil
	}
	head := make([]byte, 4)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return "", fmt.Errorf("check %s: %w", path, err)
	}
	head = head[:n]
	for _, m := range executableMagic {
		if bytes.HasPrefix(head, m.magic) {
			return m.name + ": build outputs do not belong in git", nil
		}
	}
	if execBit && !bytes.HasPrefix(head, []byte("#!")) {
		return "executable bit set on a file that is not a script", nil
	}
	return "", nil
}
