package codec_test

import (
	"testing"

	"github.com/airnest/airnest/codec"
)

// withAny and Tree are types whose values are walked for reference cycles
// before encoding (they reach an interface or contain themselves).
type withAny struct {
	Typical
	Meta any
}

func BenchmarkEncodeWalked(b *testing.B) {
	v := withAny{Typical: typical(), Meta: map[string]any{"a": 1, "b": "two", "c": []any{1.5, true, nil}, "d": map[string]any{"e": "f"}}}
	b.Run("any", func(b *testing.B) {
		c := mustNew[withAny](b, codec.NewRegistry(nil))
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Append(buf[:0], &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	tree := &Tree{Val: 1}
	for i := 0; i < 5; i++ {
		tree = &Tree{Val: i, Kids: []*Tree{tree, {Val: i}, {Val: -i}}}
	}
	b.Run("tree", func(b *testing.B) {
		c := mustNew[Tree](b, codec.NewRegistry(nil))
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Append(buf[:0], tree); err != nil {
				b.Fatal(err)
			}
		}
	})
}
