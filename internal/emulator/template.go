package emulator

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// TemplateEnv is the part of a function's environment that a SAM template fixes
// to literal values, as KEY=VALUE in key order: what `sam local invoke` would
// set whatever the parameters. Variables taken from parameters (!Ref and the
// like) differ per deployment and are the caller's to give.
func TemplateEnv(path, function string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]struct {
			Properties struct {
				Environment struct {
					Variables map[string]yaml.Node `yaml:"Variables"`
				} `yaml:"Environment"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	vars := doc.Resources[function].Properties.Environment.Variables
	if len(vars) == 0 {
		return nil, fmt.Errorf("%s: %s has no environment variables", path, function)
	}
	var env []string
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		// An empty literal is a variable declared only so that sam local may set
		// it; unset and empty mean the same to the function.
		if n := vars[k]; n.Kind == yaml.ScalarNode && strings.HasPrefix(n.ShortTag(), "!!") && n.Value != "" {
			env = append(env, k+"="+n.Value)
		}
	}
	return env, nil
}
