package image_test

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/obsshort/shortener/deploy/image"
	"github.com/obsshort/shortener/internal/testenv"
)

// TestImagesAreReproducibleStaticAndRun builds both images twice into two
// folders, checks the digests (and the tarballs, byte for byte) are equal,
// then reads each image back from the OCI layout and from its tarball,
// checks its config, extracts the binary from the layer, checks it is a
// static executable and runs it with --version.
func TestImagesAreReproducibleStaticAndRun(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the images hold linux binaries; running one needs linux")
	}
	b := image.Build{
		ModuleRoot: testenv.ModuleRoot(t),
		Version:    "v9.8.7-test",
		Revision:   "0123456789abcdef0123456789abcdef01234567",
		Source:     "https://github.com/obsshort/shortener",
		Created:    time.Unix(1764000000, 0).UTC(),
		OS:         "linux", Arch: runtime.GOARCH,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	outs := []string{filepath.Join(t.TempDir(), "one"), filepath.Join(t.TempDir(), "two")}
	var builds [2][]image.Built
	for i, out := range outs {
		var err error
		if builds[i], err = b.All(ctx, image.Images, out); err != nil {
			t.Fatal(err)
		}
	}
	for i, im := range builds[0] {
		if again := builds[1][i]; im.Digest != again.Digest || im.Ref != again.Ref {
			t.Errorf("%s: digest %s then %s: not reproducible", im.Name, im.Digest, again.Digest)
		}
		if a, c := fileSum(t, im.Tarball), fileSum(t, builds[1][i].Tarball); a != c {
			t.Errorf("%s: tarballs differ (%s, %s)", im.Name, a, c)
		}
	}

	for _, spec := range image.Images {
		t.Run(spec.Name, func(t *testing.T) {
			img, err := image.FromLayout(filepath.Join(outs[0], "oci"), spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			checkConfig(t, img, spec, b)
			bin := extract(t, img, spec.Name)
			checkStatic(t, bin)
			out, err := exec.Command(bin, "--version").CombinedOutput()
			want := fmt.Sprintf("%s %s (revision %s, ", spec.Name, b.Version, b.Revision)
			if err != nil || !strings.HasPrefix(string(out), want) {
				t.Errorf("%s --version: %q (%v), want it to start with %q", spec.Name, out, err, want)
			}

			// The docker-archive holds the same image under its tag.
			tag, err := name.NewTag(b.Ref(spec))
			if err != nil {
				t.Fatal(err)
			}
			fromTar, err := tarball.ImageFromPath(filepath.Join(outs[0], spec.Name+".tar"), &tag)
			if err != nil {
				t.Fatalf("read tarball back: %v", err)
			}
			// A docker-archive keeps the config and layers, not the
			// manifest: the image id (config digest) is what must agree.
			c1, _ := img.ConfigName()
			c2, err := fromTar.ConfigName()
			if err != nil || c1 != c2 {
				t.Errorf("tarball image id %s (%v), layout %s", c2, err, c1)
			}
			checkDockerManifest(t, filepath.Join(outs[0], spec.Name+".tar"), b.Ref(spec))
		})
	}
}

func checkConfig(t *testing.T, img v1.Image, spec image.Spec, b image.Build) {
	t.Helper()
	mt, err := img.MediaType()
	if err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s (%v), want OCI", mt, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	uid, gid, ok := strings.Cut(c.User, ":")
	u, err1 := strconv.Atoi(uid)
	g, err2 := strconv.Atoi(gid)
	if !ok || err1 != nil || err2 != nil || u == 0 || g == 0 {
		t.Errorf("user %q: want numeric non-root uid:gid", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/"+spec.Name {
		t.Errorf("entrypoint %q, want [/%s]", c.Entrypoint, spec.Name)
	}
	if cf.OS != "linux" || cf.Architecture != b.Arch {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	if !cf.Created.Time.Equal(b.Created) {
		t.Errorf("created %s, want the commit time %s", cf.Created.Time, b.Created)
	}
	for k, want := range map[string]string{
		"org.opencontainers.image.version":  b.Version,
		"org.opencontainers.image.revision": b.Revision,
		"org.opencontainers.image.source":   b.Source,
		"org.opencontainers.image.title":    spec.Name,
	} {
		if got := c.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	for _, p := range spec.Ports {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("port %s not exposed: %v", p, c.ExposedPorts)
		}
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want the binary's one layer on an empty base", len(layers), err)
	}
	if len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("rootfs diff ids %v", cf.RootFS.DiffIDs)
	}
}

// extract writes the binary from the image's filesystem to a temp file,
// checking owners and modes on the way.
func extract(t *testing.T, img v1.Image, binName string) string {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	dst := filepath.Join(t.TempDir(), binName)
	found := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Name {
		case binName:
			if h.Uid != 0 || h.Mode&0o222 != 0 || h.Mode&0o111 == 0 {
				t.Errorf("binary owner %d mode %o: want root-owned, executable, read-only", h.Uid, h.Mode)
			}
			f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
			found = true
		case "data/":
			if h.Uid != 65532 || h.Mode&0o700 != 0o700 {
				t.Errorf("data/ owner %d mode %o: want the image user's, writable", h.Uid, h.Mode)
			}
		}
	}
	if !found {
		t.Fatalf("no /%s in the image", binName)
	}
	return dst
}

// checkStatic: no program interpreter and no shared libraries, so the
// binary runs on an empty base.
func checkStatic(t *testing.T, path string) {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("not an ELF executable: %v", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a program interpreter: not static", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s links %v: not static", path, libs)
	}
}

// checkDockerManifest reads the tarball's manifest.json as `docker load`
// does: one image with its tag.
func checkDockerManifest(t *testing.T, path, ref string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("manifest.json not found in %s: %v", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct {
			Config   string
			RepoTags []string
			Layers   []string
		}
		if err := json.NewDecoder(tr).Decode(&m); err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || len(m[0].RepoTags) != 1 || m[0].RepoTags[0] != ref || len(m[0].Layers) != 1 {
			t.Errorf("manifest.json %+v, want one image tagged %s with one layer", m, ref)
		}
		return
	}
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}
