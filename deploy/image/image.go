// Package image builds the OCI images of the shortener and the gate
// without a container daemon: a static Go binary (CGO_ENABLED=0) as the
// only layer on an empty base, run as a non-root numeric user. The same
// commit gives the same digest: the binary is built with -trimpath and
// without VCS stamping, every file in the layer has fixed owner, mode and
// time, and the image's creation time is the commit's (SOURCE_DATE_EPOCH).
//
// The output is an OCI image layout (skopeo, crane, containerd read it)
// holding every image, plus one docker-archive tarball per image for
// `docker load`.
package image

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// User is the numeric user and group the images run as (no /etc/passwd
// is needed for a number; 65532 is the "nonroot" of distroless images).
const User = "65532:65532"

// Repository is the name the tarballs are tagged with (docker load).
const Repository = "obsshort"

// Spec is one image: which command, how it is started.
type Spec struct {
	Name    string   // image and binary name, e.g. "shortener"
	Package string   // main package, relative to the module root
	Env     []string // defaults that make sense in a container
	Ports   []string // exposed, e.g. "8080/tcp"
	// DataDir is created writable by User (a volume usually covers it).
	DataDir string
}

// Images are the images `make image` builds.
var Images = []Spec{
	{
		Name: "shortener", Package: "./app/cmd/shortener",
		// Listen on every interface inside the container; the database
		// lives in /data (mount a volume there).
		Env:     []string{"SHORTENER_ADDR=:8080", "SHORTENER_ADMIN_ADDR=:8081", "SHORTENER_DB=/data/shortener.db"},
		Ports:   []string{"8080/tcp", "8081/tcp"},
		DataDir: "data",
	},
	{
		Name: "gate", Package: "./ci/cmd/gate",
		Env:     []string{"GATE_SERVE_ADDR=:8090", "GATE_SERVE_STATE_DIR=/data"},
		Ports:   []string{"8090/tcp"},
		DataDir: "data",
	},
}

// Build says what is built: the same Build gives the same digests.
type Build struct {
	ModuleRoot string
	Version    string // stamped into the binary and the labels
	Revision   string // git commit
	Source     string // repository URL (org.opencontainers.image.source)
	Created    time.Time
	OS, Arch   string // target platform, e.g. linux, amd64
}

var tagChars = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

func (b Build) check() error {
	switch {
	case b.ModuleRoot == "":
		return errors.New("module root: required")
	case !tagChars.MatchString(b.Version):
		return fmt.Errorf("version %q: must be usable as an image tag (letters, digits, '_', '.', '-'; at most 128)", b.Version)
	case b.Revision == "":
		return errors.New("revision: required (the git commit)")
	case b.OS == "" || b.Arch == "":
		return errors.New("platform: os and arch required, e.g. linux/amd64")
	}
	return nil
}

// Binary compiles spec's command as a static binary for the platform.
func (b Build) Binary(ctx context.Context, spec Spec, dst string) error {
	ldflags := fmt.Sprintf("-s -w -X github.com/obsshort/shortener/telemetry.Version=%s -X github.com/obsshort/shortener/telemetry.Revision=%s", b.Version, b.Revision)
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", dst, spec.Package)
	cmd.Dir = b.ModuleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+b.OS, "GOARCH="+b.Arch, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %v\n%s", spec.Package, b.OS, b.Arch, err, out)
	}
	return nil
}

// Image wraps a built binary into an image.
func (b Build) Image(spec Spec, binary string) (v1.Image, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("read binary: %w", err)
	}
	layerTar, err := layerTar(spec, bin, b.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer: layer,
		History: v1.History{
			Created:   v1.Time{Time: b.Created},
			CreatedBy: "deploy/cmd/image: static " + spec.Name + " binary (make image)",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = b.OS, b.Arch
	cf.Created = v1.Time{Time: b.Created}
	cf.Config.User = User
	cf.Config.Entrypoint = []string{"/" + spec.Name}
	cf.Config.Env = append([]string{"PATH=/"}, spec.Env...)
	cf.Config.WorkingDir = "/"
	cf.Config.ExposedPorts = map[string]struct{}{}
	for _, p := range spec.Ports {
		cf.Config.ExposedPorts[p] = struct{}{}
	}
	if spec.DataDir != "" {
		cf.Config.Volumes = map[string]struct{}{"/" + spec.DataDir: {}}
	}
	cf.Config.Labels = b.labels(spec)
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}

// labels are the OCI annotations of the image config.
func (b Build) labels(spec Spec) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":    spec.Name,
		"org.opencontainers.image.version":  b.Version,
		"org.opencontainers.image.revision": b.Revision,
		"org.opencontainers.image.source":   b.Source,
		"org.opencontainers.image.created":  b.Created.UTC().Format(time.RFC3339),
	}
}

// layerTar is the only layer: the binary at /<name>, a data folder owned
// by User and /tmp, with fixed owners, modes and times.
func layerTar(spec Spec, bin []byte, mtime time.Time) ([]byte, error) {
	uid, gid := 65532, 65532
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []*tar.Header{
		{Name: spec.Name, Mode: 0o555, Size: int64(len(bin)), Typeflag: tar.TypeReg},
		{Name: "tmp/", Mode: 0o1777, Typeflag: tar.TypeDir},
	}
	if spec.DataDir != "" {
		entries = append(entries, &tar.Header{Name: strings.TrimSuffix(spec.DataDir, "/") + "/", Mode: 0o700, Typeflag: tar.TypeDir, Uid: uid, Gid: gid})
	}
	for _, h := range entries {
		h.ModTime, h.Format = mtime.UTC(), tar.FormatPAX
		if h.Typeflag == tar.TypeReg {
			h.Uid, h.Gid = 0, 0 // root-owned and read-only: the user cannot replace it
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(bin); err != nil {
				return nil, fmt.Errorf("layer: %w", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// Built is one image written out.
type Built struct {
	Name    string
	Ref     string // tag of the tarball, e.g. obsshort/shortener:v1.2.0
	Digest  v1.Hash
	Tarball string
}

// Ref is the tag an image gets in the tarball and the layout annotations.
func (b Build) Ref(spec Spec) string { return Repository + "/" + spec.Name + ":" + b.Version }

// All builds every spec and writes the OCI layout (outDir/oci) and one
// tarball per image (outDir/<name>.tar). outDir is replaced.
func (b Build) All(ctx context.Context, specs []Spec, outDir string) ([]Built, error) {
	if err := b.check(); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(outDir); err != nil {
		return nil, fmt.Errorf("clean %s: %w", outDir, err)
	}
	binDir := filepath.Join(outDir, "bin", b.OS+"_"+b.Arch)
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	lp, err := layout.Write(filepath.Join(outDir, "oci"), empty.Index)
	if err != nil {
		return nil, fmt.Errorf("oci layout: %w", err)
	}
	var out []Built
	for _, spec := range specs {
		bin := filepath.Join(binDir, spec.Name)
		if err := b.Binary(ctx, spec, bin); err != nil {
			return nil, err
		}
		img, err := b.Image(spec, bin)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", spec.Name, err)
		}
		ref := b.Ref(spec)
		if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{
			"org.opencontainers.image.ref.name": spec.Name,
			"io.containerd.image.name":          "docker.io/" + ref,
		}), layout.WithPlatform(v1.Platform{OS: b.OS, Architecture: b.Arch})); err != nil {
			return nil, fmt.Errorf("oci layout: %w", err)
		}
		tag, err := name.NewTag(ref)
		if err != nil {
			return nil, fmt.Errorf("tag %s: %w", ref, err)
		}
		tb := filepath.Join(outDir, spec.Name+".tar")
		if err := tarball.WriteToFile(tb, tag, img); err != nil {
			return nil, fmt.Errorf("tarball %s: %w", tb, err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, Built{Name: spec.Name, Ref: ref, Digest: d, Tarball: tb})
	}
	return out, nil
}

// FromLayout reads the image called name back from an OCI layout.
func FromLayout(dir, imageName string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("read layout %s: %w", dir, err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == imageName {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("layout %s has no image %q", dir, imageName)
}
