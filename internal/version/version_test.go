package version

import (
	"os"
	"reflect"
	"regexp"
	"testing"
)

type marker struct{}

// The Makefile sets Version with -X, which names the variable by its package
// path: were the package moved or the variable renamed, the linker would drop
// the flag without a word and every build would call itself 0.0.0-dev.
func TestMakefileSetsThisVersion(t *testing.T) {
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	flags := regexp.MustCompile(`-X '?([^=' ]+)=`).FindAllSubmatch(makefile, -1)
	if len(flags) == 0 {
		t.Fatal("the Makefile sets no variable with -X")
	}
	want := reflect.TypeOf(marker{}).PkgPath() + ".Version"
	for _, f := range flags {
		if string(f[1]) != want {
			t.Errorf("the Makefile sets %s; the version is %s", f[1], want)
		}
	}
}
