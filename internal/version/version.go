// Package version holds the release the binary was built from. The build sets
// Version with -ldflags "-X close-recharge/internal/version.Version=…" from
// `git describe --tags --always`; a plain `go build` or `go test` keeps the
// fallback, which says that no release was named.
package version

// Version is the release, a semantic version (v1.0.0, or v1.0.0-3-gabc1234 for
// a build past the tag), or the fallback for a build no release named.
var Version = Dev

// Dev is the version of a build that was given none.
const Dev = "0.0.0-dev"
