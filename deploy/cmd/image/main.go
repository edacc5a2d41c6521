// Command image builds the OCI images of the shortener and the gate
// without a container daemon (`make image`): deploy/out/oci is an OCI
// image layout holding both, deploy/out/<name>.tar a docker-archive per
// image. See deploy/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/obsshort/shortener/deploy/image"
	"github.com/obsshort/shortener/internal/moduleroot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "image: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		b        image.Build
		out      string
		platform string
		created  string
		only     string
	)
	fs.StringVar(&out, "out", "deploy/out", "output folder (replaced): oci/ layout and <name>.tar per image")
	fs.StringVar(&b.Version, "version", "dev", "version stamped into the binaries, labels and tags")
	fs.StringVar(&b.Revision, "revision", "unknown", "git commit stamped into the binaries and labels")
	fs.StringVar(&b.Source, "source", "https://github.com/obsshort/shortener", "repository URL (org.opencontainers.image.source)")
	fs.StringVar(&platform, "platform", "linux/amd64", "target os/arch")
	fs.StringVar(&created, "created", "", "creation time as Unix seconds (default $SOURCE_DATE_EPOCH, else 0): the commit time keeps the digest reproducible")
	fs.StringVar(&only, "images", "", "comma-separated subset of: shortener, gate (default both)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var ok bool
	if b.OS, b.Arch, ok = strings.Cut(platform, "/"); !ok {
		return fmt.Errorf("--platform %q: want os/arch, e.g. linux/arm64", platform)
	}
	if created == "" {
		created = getenv("SOURCE_DATE_EPOCH")
	}
	secs := int64(0)
	if created != "" {
		var err error
		if secs, err = strconv.ParseInt(created, 10, 64); err != nil || secs < 0 {
			return fmt.Errorf("--created / SOURCE_DATE_EPOCH %q: want Unix seconds", created)
		}
	}
	b.Created = time.Unix(secs, 0).UTC()
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if b.ModuleRoot, err = moduleroot.Find(wd); err != nil {
		return err
	}
	specs := image.Images
	if only != "" {
		specs = nil
		for _, n := range strings.Split(only, ",") {
			found := false
			for _, s := range image.Images {
				if s.Name == strings.TrimSpace(n) {
					specs, found = append(specs, s), true
				}
			}
			if !found {
				return fmt.Errorf("--images: unknown image %q (have shortener, gate)", n)
			}
		}
	}
	built, err := b.All(ctx, specs, out)
	if err != nil {
		return err
	}
	for _, im := range built {
		fmt.Fprintf(stdout, "%s %s %s\n", im.Ref, im.Digest, im.Tarball)
	}
	fmt.Fprintf(stdout, "OCI layout: %s/oci\n", out)
	return nil
}
