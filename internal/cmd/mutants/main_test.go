package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestParseReadsEntriesAndTheirEdits(t *testing.T) {
	text := "preamble, ignored\n=== first\nfile: a.go\ntest: go test ./a\n--- old\n\tx := 1\n\n--- new\n\tx := 2\n" +
		"=== second\nfile: b.yaml\ntest: true\n--- old\nA\n--- new\nB\n--- old\nC\n--- new\n"
	ms, err := parse("l.txt", text)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("got %d mutants, want 2", len(ms))
	}
	if m := ms[0]; m.name != "first" || m.file != "a.go" || m.test != "go test ./a" || len(m.edits) != 1 ||
		m.edits[0] != (edit{"\tx := 1\n", "\tx := 2"}) {
		t.Errorf("first: %+v", m)
	}
	if m := ms[1]; len(m.edits) != 2 || m.edits[1] != (edit{"C", ""}) {
		t.Errorf("second: %+v", m)
	}
	for _, bad := range []string{
		"=== no file\ntest: t\n--- old\na\n--- new\nb\n",
		"=== no edit\nfile: f\ntest: t\n",
		"=== same\nfile: f\ntest: t\n--- old\na\n--- new\na\n",
		"=== new first\nfile: f\ntest: t\n--- new\na\n",
		"=== stray\nfile: f\ntest: t\nstray\n",
	} {
		if _, err := parse("l.txt", bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// A list that no longer applies to the code would plant nothing: every edit's
// old text must stand exactly once in its file as the tree is now.
func TestEveryListedMutantStillApplies(t *testing.T) {
	ms, err := load("list")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no mutants listed")
	}
	root := filepath.Join("..", "..", "..")
	for _, m := range ms {
		src, err := os.ReadFile(filepath.Join(root, m.file))
		if err != nil {
			t.Errorf("%s: %v", m.origin, err)
			continue
		}
		for i, e := range m.edits {
			if n := bytes.Count(src, []byte(e.old)); n != 1 {
				t.Errorf("%s (%s): old text %d occurs %d times in %s, want once", m.origin, m.name, i+1, n, m.file)
			}
		}
	}
}
