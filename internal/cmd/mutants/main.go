// Command mutants plants, one at a time, the bugs listed in list/*.txt into a
// copy of the tree and runs the test named beside each: a test that still
// passes with its bug planted judges nothing. Each test is first run on an
// unchanged copy, so that a test failing for another reason is not counted as
// a catch.
//
// A list file holds entries like this one (text before the first entry is a
// comment):
//
//	=== what the bug is
//	file: internal/handler/handler.go
//	test: go test -count=1 -run '^TestX$' ./internal/handler
//	--- old
//	text that occurs exactly once in file
//	--- new
//	the text that replaces it
//
// An entry may hold several old/new pairs, all in its file: one bug that
// takes more than one edit to plant.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
)

type mutant struct {
	name, file, test string
	edits            []edit
	origin           string // list file and line, for messages
}

type edit struct{ old, new string }

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mutants:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mutants", flag.ContinueOnError)
	list := fs.String("list", "internal/cmd/mutants/list", "folder of *.txt mutant lists")
	match := fs.String("run", "", "only mutants whose name matches this regular expression")
	timeout := fs.Duration("timeout", 10*time.Minute, "longest a test may run")
	keep := fs.Bool("keep", false, "keep the mutated copies (their paths are printed)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mutants, err := load(*list)
	if err != nil {
		return err
	}
	if *match != "" {
		re, err := regexp.Compile(*match)
		if err != nil {
			return fmt.Errorf("-run: %w", err)
		}
		mutants = slices.DeleteFunc(mutants, func(m mutant) bool { return !re.MatchString(m.name) })
	}
	if len(mutants) == 0 {
		return errors.New("no mutants to plant")
	}
	files, err := trackedFiles()
	if err != nil {
		return err
	}

	// Each distinct test once on the unchanged tree.
	pristine, err := copyTree(files)
	if err != nil {
		return err
	}
	defer os.RemoveAll(pristine)
	baseline := map[string]bool{}
	for _, m := range mutants {
		if _, done := baseline[m.test]; done {
			continue
		}
		start := time.Now()
		ok, out, _ := runTest(ctx, pristine, m.test, *timeout)
		baseline[m.test] = ok
		if !ok {
			fmt.Fprintf(stdout, "baseline FAILED (%.0fs): %s\n%s\n", time.Since(start).Seconds(), m.test, tail(out, 20))
		}
	}

	var missed, broken, unjudged int
	fmt.Fprintf(stdout, "%-8s %5s  %s\n", "result", "secs", "mutant")
	for _, m := range mutants {
		start := time.Now()
		result, detail := plant(ctx, files, m, baseline[m.test], *timeout, *keep)
		switch result {
		case "MISSED":
			missed++
		case "BROKEN":
			broken++
		case "UNJUDGED", "TIMEOUT":
			unjudged++
		}
		fmt.Fprintf(stdout, "%-8s %5.0f  %s\n", result, time.Since(start).Seconds(), m.name)
		if detail != "" {
			fmt.Fprintln(stdout, indent(detail))
		}
	}
	fmt.Fprintf(stdout, "mutants: %d planted, %d caught, %d missed, %d broken, %d unjudged (their test fails unchanged, or timed out)\n",
		len(mutants), len(mutants)-missed-broken-unjudged, missed, broken, unjudged)
	if missed+broken+unjudged > 0 {
		return errors.New("not every planted bug was caught")
	}
	return nil
}

// plant copies the tree, makes the one change and runs the test.
func plant(ctx context.Context, files []string, m mutant, baselineOK bool, timeout time.Duration, keep bool) (string, string) {
	if !baselineOK {
		return "UNJUDGED", ""
	}
	dir, err := copyTree(files)
	if err != nil {
		return "BROKEN", err.Error()
	}
	if keep {
		defer fmt.Fprintln(os.Stderr, "kept:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	path := filepath.Join(dir, m.file)
	src, err := os.ReadFile(path)
	if err != nil {
		return "BROKEN", fmt.Sprintf("%s: %v", m.origin, err)
	}
	for i, e := range m.edits {
		if n := bytes.Count(src, []byte(e.old)); n != 1 {
			return "BROKEN", fmt.Sprintf("%s: old text %d occurs %d times in %s, want once", m.origin, i+1, n, m.file)
		}
		src = bytes.Replace(src, []byte(e.old), []byte(e.new), 1)
	}
	if err := os.WriteFile(path, src, 0o644); err != nil {
		return "BROKEN", err.Error()
	}
	// A mutant that does not build, anywhere (tests included), or a template
	// that no longer parses, is caught by the compiler or the parser, not by
	// a test.
	switch filepath.Ext(m.file) {
	case ".go":
		if ok, out, _ := runTest(ctx, dir, "go vet ./...", timeout); !ok {
			return "BROKEN", m.origin + ": does not build:\n" + tail(out, 10)
		}
	case ".yaml", ".yml":
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			return "BROKEN", fmt.Sprintf("%s: %s no longer parses: %v", m.origin, m.file, err)
		}
	}
	ok, _, timedOut := runTest(ctx, dir, m.test, timeout)
	switch {
	case timedOut:
		return "TIMEOUT", m.origin + ": " + m.test + " ran past " + timeout.String()
	case ok:
		return "MISSED", m.origin + ": " + m.test + " passed with the bug planted"
	}
	return "caught", ""
}

// runTest runs command in dir; timedOut reports a run ended by the timeout,
// which judges nothing. The command runs in a process group of its own, so
// that a timeout ends the test binaries it started too.
func runTest(ctx context.Context, dir, command string, timeout time.Duration) (ok bool, out string, timedOut bool) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", command)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	b, err := cmd.CombinedOutput()
	return err == nil, string(b), ctx.Err() != nil
}

// trackedFiles lists the files git knows of or would add: the tree as it
// stands, uncommitted changes included, without what .gitignore leaves out.
func trackedFiles() ([]string, error) {
	out, err := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

func copyTree(files []string) (string, error) {
	dir, err := os.MkdirTemp("", "mutant-")
	if err != nil {
		return "", err
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return "", err
		}
		info, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(dst, data, info.Mode().Perm()); err != nil {
			return "", err
		}
	}
	// What the tests install rather than the repository holds (npm packages,
	// ./bin's tools) is shared with the copy, not copied: without it a test
	// would skip, and its planted bug pass unseen.
	out, err := exec.Command("git", "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory").Output()
	if err != nil {
		return "", fmt.Errorf("git ls-files: %w", err)
	}
	for _, d := range strings.Split(string(out), "\x00") {
		d = strings.TrimSuffix(d, "/")
		if d != "bin" && filepath.Base(d) != "node_modules" {
			continue
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", err
		}
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(d)), 0o755); err != nil {
			return "", err
		}
		if err := os.Symlink(abs, filepath.Join(dir, d)); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func load(dir string) ([]mutant, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var all []mutant
	names := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		ms, err := parse(p, string(data))
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if prev, dup := names[m.name]; dup {
				return nil, fmt.Errorf("%s: mutant %q is also at %s", m.origin, m.name, prev)
			}
			names[m.name] = m.origin
		}
		all = append(all, ms...)
	}
	return all, nil
}

// parse reads one list file; see the package comment for its form.
func parse(path, text string) ([]mutant, error) {
	var out []mutant
	var cur *mutant
	var block *strings.Builder // the old or new text being read
	var pairs [][2]*strings.Builder
	finish := func() error {
		if cur == nil {
			return nil
		}
		for _, p := range pairs {
			e := edit{strings.TrimSuffix(p[0].String(), "\n"), strings.TrimSuffix(p[1].String(), "\n")}
			if e.old == "" || e.old == e.new {
				return fmt.Errorf("%s: an old block is empty or equal to its new one", cur.origin)
			}
			cur.edits = append(cur.edits, e)
		}
		if cur.file == "" || cur.test == "" || len(cur.edits) == 0 {
			return fmt.Errorf("%s: needs file:, test: and an old/new pair", cur.origin)
		}
		out = append(out, *cur)
		return nil
	}
	for i, line := range strings.SplitAfter(text, "\n") {
		bare := strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(bare, "=== "):
			if err := finish(); err != nil {
				return nil, err
			}
			cur = &mutant{name: strings.TrimSpace(bare[4:]), origin: fmt.Sprintf("%s:%d", path, i+1)}
			block, pairs = nil, nil
		case cur == nil:
			// the file's preamble
		case block == nil && strings.HasPrefix(bare, "file:"):
			cur.file = strings.TrimSpace(bare[5:])
		case block == nil && strings.HasPrefix(bare, "test:"):
			cur.test = strings.TrimSpace(bare[5:])
		case bare == "--- old":
			pairs = append(pairs, [2]*strings.Builder{{}, {}})
			block = pairs[len(pairs)-1][0]
		case bare == "--- new" && len(pairs) > 0 && block == pairs[len(pairs)-1][0]:
			block = pairs[len(pairs)-1][1]
		case bare == "--- new":
			return nil, fmt.Errorf("%s:%d: --- new without its --- old", path, i+1)
		case block != nil:
			block.WriteString(line)
		case strings.TrimSpace(bare) != "":
			return nil, fmt.Errorf("%s:%d: unexpected line %q", path, i+1, bare)
		}
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return out, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string { return "         " + strings.ReplaceAll(s, "\n", "\n         ") }
