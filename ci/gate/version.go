package gate

import (
	"fmt"
	"io"
	"runtime"

	"github.com/obsshort/shortener/telemetry"
)

// printVersion is `gate version` (and --version): the version and
// revision stamped at build time, as the shortener reports its own.
func printVersion(stdout io.Writer) int {
	version, revision := telemetry.BuildVersion()
	fmt.Fprintf(stdout, "gate %s (revision %s, %s)\n", version, revision, runtime.Version())
	return ExitPass
}
