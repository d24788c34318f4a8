package codec_test

import (
	"testing"

	"github.com/airnest/airnest/codec"
	"github.com/fxamacker/cbor/v2"
)

// typicalStatic is Typical with hand-written keyasint tags.
type typicalStatic struct {
	ID       [16]byte     `cbor:"1,keyasint,omitzero"`
	Status   string       `cbor:"2,keyasint,omitzero"`
	Priority int          `cbor:"3,keyasint,omitzero"`
	Created  int64        `cbor:"4,keyasint,omitzero"`
	Owner    string       `cbor:"5,keyasint,omitzero"`
	Tags     []string     `cbor:"6,keyasint,omitzero"`
	Payload  []byte       `cbor:"7,keyasint,omitzero"`
	Steps    []stepStatic `cbor:"8,keyasint,omitzero"`
}
type stepStatic struct {
	Name string `cbor:"1,keyasint,omitzero"`
	Done bool   `cbor:"2,keyasint,omitzero"`
}

func static(v Typical) typicalStatic {
	s := typicalStatic{ID: v.ID, Status: v.Status, Priority: v.Priority, Created: v.Created, Owner: v.Owner, Tags: v.Tags, Payload: v.Payload}
	for _, st := range v.Steps {
		s.Steps = append(s.Steps, stepStatic(st))
	}
	return s
}

func staticModes(b *testing.B) (cbor.EncMode, cbor.DecMode) {
	em, err := cbor.EncOptions{Sort: cbor.SortCoreDeterministic}.EncMode()
	if err != nil {
		b.Fatal(err)
	}
	dm, err := cbor.DecOptions{}.DecMode()
	if err != nil {
		b.Fatal(err)
	}
	return em, dm
}

func BenchmarkEncode(b *testing.B) {
	v := typical()
	b.Run("codec", func(b *testing.B) {
		c := mustNew[Typical](b, codec.NewRegistry(nil))
		buf := make([]byte, 0, 1024)
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if _, err = c.Append(buf[:0], &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("static", func(b *testing.B) {
		em, _ := staticModes(b)
		s := static(v)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := em.Marshal(&s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	v := typical()
	b.Run("codec", func(b *testing.B) {
		c := mustNew[Typical](b, codec.NewRegistry(nil))
		data, _ := c.Append(nil, &v)
		b.ReportAllocs()
		for b.Loop() {
			var out Typical
			if err := c.Decode(data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("static", func(b *testing.B) {
		em, dm := staticModes(b)
		s := static(v)
		data, _ := em.Marshal(&s)
		b.ReportAllocs()
		for b.Loop() {
			var out typicalStatic
			if err := dm.Unmarshal(data, &out); err != nil {
				b.Fatal(err)
			}
		}
	})
}
