package bench

import "testing"

func BenchmarkInvocation(b *testing.B) { Invocation(b) }
func BenchmarkPeer(b *testing.B)       { Peer(b) }
func BenchmarkFloor(b *testing.B)      { Floor(b) }
