package airnest_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/airnest/airnest"
	"github.com/fxamacker/cbor/v2"
)

func TestIDMarshaling(t *testing.T) {
	t.Parallel()
	id := airnest.NewID[Job]()
	if d := time.Since(id.Time()); d < 0 || d > time.Minute {
		t.Fatalf("Time() = %v", id.Time())
	}
	js, err := json.Marshal(struct{ ID airnest.ID[Job] }{id})
	if err != nil || string(js) != `{"ID":"`+id.String()+`"}` {
		t.Fatalf("JSON %s %v", js, err)
	}
	var back struct{ ID airnest.ID[Job] }
	if err := json.Unmarshal(js, &back); err != nil || back.ID != id {
		t.Fatalf("JSON round trip: %v %v", back.ID, err)
	}
	b, err := cbor.Marshal(id)
	if err != nil || len(b) != 17 || b[0] != 0x50 {
		t.Fatalf("CBOR % x %v", b, err)
	}
	var cb airnest.ID[Job]
	if err := cbor.Unmarshal(b, &cb); err != nil || cb != id {
		t.Fatalf("CBOR round trip %v %v", cb, err)
	}
	if _, err := airnest.ParseID[Job]("not-a-uuid"); !errors.Is(err, airnest.ErrInvalid) {
		t.Fatalf("ParseID of garbage: %v", err)
	}
	// IDs made one after another sort in creation order.
	prev := airnest.NewID[Job]()
	for range 10000 {
		next := airnest.NewID[Job]()
		if next.Compare(prev) <= 0 {
			t.Fatal("NewID is not increasing")
		}
		prev = next
	}
}

func TestDeclaringTouchesNoFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "later.db")
	s := airnest.NewStore()
	jobs := airnest.Collection[Job](s, airnest.Index("status"))
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("declaring a collection created %v", entries)
	}
	if err := s.Open(bg, path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j := Job{Status: "x"}
	if err := jobs.Save(bg, &j); err != nil {
		t.Fatal(err)
	}
	// A collection declared after Open gets its table at once.
	late := airnest.Collection[Session](s, airnest.Index("user"))
	se := Session{User: "u"}
	if err := late.Save(bg, &se); err != nil {
		t.Fatal(err)
	}
}
