package emulator

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Two runs on one machine wait for each other instead of failing on 9001.
func TestRunsTakeTurns(t *testing.T) {
	saved := lockPath
	lockPath = filepath.Join(t.TempDir(), "emulator.lock")
	t.Cleanup(func() { lockPath = saved })
	first, err := takeTurn()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *os.File)
	go func() {
		f, err := takeTurn()
		if err != nil {
			t.Error(err)
		}
		got <- f
	}()
	select {
	case <-got:
		t.Fatal("the second run did not wait for the first")
	case <-time.After(200 * time.Millisecond):
	}
	first.Close()
	select {
	case f := <-got:
		f.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the second run never got its turn")
	}
}
