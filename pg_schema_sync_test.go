package airnest_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/airnest/airnest"
	"github.com/airnest/airnest/internal/pgtest"
)

// Schema sync at Open across processes: syncProcs processes open one
// fresh PostgreSQL database at once and save values (phase 1); then as
// many open it at once with a struct that gained fields and an index
// column on a field the old values hold (phase 2).
const (
	syncProcs  = 6  // children opening together, in each phase
	syncSaves1 = 50 // values each child saves with the old struct
	syncSaves2 = 40 // values each child saves with the new one
	syncOld    = syncProcs * syncSaves1
)

// SyncV1 is the struct before it grew.
type SyncV1 struct {
	ID   airnest.ID[SyncV1]
	Name string
	N    int
}

// SyncV2 is SyncV1 with new fields around the old ones, a new key space
// (Extra) and N as an index column, back-filled over the old rows.
type SyncV2 struct {
	ID     airnest.ID[SyncV2]
	Color  string
	Name   string
	Weight float64
	N      int
	Extra  SyncExtra
	Tags   []string
	Child  int
}

type SyncExtra struct {
	Note string
	Seq  int
}

// syncV1 is value j of child c in phase 1; N runs from 0 to syncOld-1.
func syncV1(c, j int) SyncV1 {
	return SyncV1{Name: fmt.Sprintf("old c%d.%d", c, j), N: c*syncSaves1 + j}
}

// syncV2 is value j of child c in phase 2; every field holds a value no
// other field of it holds, so a blob's keys can be told apart by their
// values.
func syncV2(c, j int) SyncV2 {
	tag := fmt.Sprintf("c%d.%d", c, j)
	return SyncV2{
		Color:  "color " + tag,
		Name:   "name " + tag,
		Weight: float64(c) + float64(j)/1000 + 0.5,
		N:      1_000_000 + 1000*c + j,
		Extra:  SyncExtra{Note: "note " + tag, Seq: 2_000_000 + 1000*c + j},
		Tags:   []string{"tag " + tag},
		Child:  3_000_000 + c,
	}
}

// The fields of each phase's values as blobKeys matches them.
func syncFields1(id []byte, v SyncV1) map[string]any {
	return map[string]any{".ID": id, ".Name": v.Name, ".N": v.N}
}

func syncFields2(id []byte, v SyncV2) map[string]any {
	return map[string]any{
		".ID": id, ".Color": v.Color, ".Name": v.Name, ".Weight": v.Weight, ".N": v.N,
		".Extra": map[string]any{"Extra.Note": v.Extra.Note, "Extra.Seq": v.Extra.Seq},
		".Tags":  v.Tags, ".Child": v.Child,
	}
}

// syncReport is what a sync child prints: the ids it saved, the field keys
// its own last value was written with, and the key registry as it read
// it at the end.
type syncReport struct {
	IDs      []string
	Used     map[string]int64
	Registry map[string]int64
	OpenTook time.Duration
}

// syncChild opens the store at the barrier's release, saves its values of
// phase AIRNEST_PG_PHASE and prints its syncReport.
func syncChild(dsn, child string) error {
	c, err := strconv.Atoi(child)
	if err != nil {
		return fmt.Errorf("AIRNEST_PG_CHILD %q: %v", child, err)
	}
	s := airnest.NewStore()
	// save saves value j and returns its id and fields.
	var save func(j int) (string, map[string]any, error)
	switch phase := os.Getenv("AIRNEST_PG_PHASE"); phase {
	case "1":
		coll := airnest.Collection[SyncV1](s, airnest.Name("Synced"))
		save = func(j int) (string, map[string]any, error) {
			v := syncV1(c, j)
			err := coll.Save(context.Background(), &v)
			return v.ID.String(), syncFields1(v.ID.Bytes(), v), err
		}
	case "2":
		coll := declareSyncV2(s)
		save = func(j int) (string, map[string]any, error) {
			v := syncV2(c, j)
			err := coll.Save(context.Background(), &v)
			return v.ID.String(), syncFields2(v.ID.Bytes(), v), err
		}
	default:
		return fmt.Errorf("AIRNEST_PG_PHASE %q", phase)
	}
	n := syncSaves1
	if os.Getenv("AIRNEST_PG_PHASE") == "2" {
		n = syncSaves2
	}
	awaitBarrier()
	ctx := context.Background()
	start := time.Now()
	if err := s.Open(ctx, dsn, nil); err != nil {
		return err
	}
	defer s.Close()
	rep := syncReport{OpenTook: time.Since(start)}
	db, err := s.DB()
	if err != nil {
		return err
	}
	for j := range n {
		id, fields, err := save(j)
		if err != nil {
			return err
		}
		rep.IDs = append(rep.IDs, id)
		if j == n-1 { // the last: every field holds a non-zero value
			if rep.Used, err = blobKeys(ctx, db, fields[".ID"].([]byte), fields); err != nil {
				return err
			}
		}
	}
	if rep.Registry, err = keyRegistry(ctx, db); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(rep)
}

func declareSyncV2(s *airnest.Store) *airnest.Coll[SyncV2] {
	return airnest.Collection[SyncV2](s, airnest.Name("Synced"), airnest.Index("N"))
}

// keyRegistry reads the key registry of Synced: "space.name" → key.
func keyRegistry(ctx context.Context, db *sql.DB) (map[string]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT space, name, key FROM _airnest_keys WHERE collection = 'Synced'")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	reg := map[string]int64{}
	for rows.Next() {
		var space, name string
		var key int64
		if err := rows.Scan(&space, &name, &key); err != nil {
			return nil, err
		}
		reg[space+"."+name] = key
	}
	return reg, rows.Err()
}

// blobKeys reads the stored blob of the value with id and returns the
// integer key under which each of fields was written ("space.name" →
// key), found by the field's value (a map[string]any for a nested
// struct's fields). A key whose value is no field's is an error.
func blobKeys(ctx context.Context, db *sql.DB, id []byte, fields map[string]any) (map[string]int64, error) {
	var blob []byte
	if err := db.QueryRowContext(ctx, `SELECT v FROM "Synced" WHERE id = $1`, id).Scan(&blob); err != nil {
		return nil, fmt.Errorf("read the blob of %x: %w", id, err)
	}
	used := map[string]int64{}
	var walk func(blob []byte, fields map[string]any) error
	walk = func(blob []byte, fields map[string]any) error {
		var m map[int64]cbor.RawMessage
		if err := cbor.Unmarshal(blob, &m); err != nil {
			return fmt.Errorf("blob of %x: %w", id, err)
		}
	keys:
		for k, raw := range m {
			var got any
			if err := cbor.Unmarshal(raw, &got); err != nil {
				return fmt.Errorf("blob of %x, key %d: %w", id, k, err)
			}
			for name, want := range fields {
				nested, isMap := want.(map[string]any)
				if _, gotMap := got.(map[any]any); isMap && gotMap {
					if err := walk(raw, nested); err != nil {
						return err
					}
				} else if fmt.Sprint(got) != fmt.Sprint(want) {
					continue
				}
				used[name] = k
				continue keys
			}
			return fmt.Errorf("blob of %x: key %d holds %v, the value of no field", id, k, got)
		}
		return nil
	}
	return used, walk(blob, fields)
}

// syncPhase runs syncProcs children of phase at once and returns their
// reports; each child's keys must be the registry's.
func syncPhase(t *testing.T, dsn, phase string) []syncReport {
	t.Helper()
	kids := startTogether(t, syncProcs, "sync", dsn, func(i int) []string {
		return []string{"AIRNEST_PG_CHILD=" + strconv.Itoa(i), "AIRNEST_PG_PHASE=" + phase}
	})
	reps := make([]syncReport, len(kids))
	for i, k := range kids {
		if err := json.Unmarshal([]byte(k.line(t)), &reps[i]); err != nil {
			t.Fatalf("phase %s, child %d's report: %v", phase, i, err)
		}
		k.wait(t)
	}
	var took []string
	for i, rep := range reps {
		took = append(took, rep.OpenTook.Round(time.Millisecond).String())
		if i > 0 && !reflect.DeepEqual(rep.Registry, reps[0].Registry) {
			t.Errorf("phase %s: child %d read the key registry\n%v\nchild 0 read\n%v", phase, i, rep.Registry, reps[0].Registry)
		}
		if !reflect.DeepEqual(rep.Used, rep.Registry) {
			t.Errorf("phase %s: child %d wrote its value with the keys\n%v\nthe registry holds\n%v", phase, i, rep.Used, rep.Registry)
		}
	}
	t.Logf("phase %s: %d processes opened at once; each Open took %v", phase, syncProcs, took)
	return reps
}

func TestPGSchemaSyncAcrossProcesses(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Database(t)
	ctx := context.Background()

	old := syncPhase(t, dsn, "1")
	checkRegistry(t, old[0].Registry, ".ID", ".N", ".Name")
	reps := syncPhase(t, dsn, "2")
	for name, key := range old[0].Registry {
		if reps[0].Registry[name] != key {
			t.Errorf("field %s had key %d before the struct grew, %d after", name, key, reps[0].Registry[name])
		}
	}

	s := airnest.NewStore()
	coll := declareSyncV2(s)
	if err := s.Open(ctx, dsn, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := s.DB()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := keyRegistry(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	checkRegistry(t, reg, ".Child", ".Color", ".Extra", ".ID", ".N", ".Name", ".Tags", ".Weight", "Extra.Note", "Extra.Seq")
	if !reflect.DeepEqual(reg, reps[0].Registry) {
		t.Errorf("the parent reads the key registry\n%v\nthe children read\n%v", reg, reps[0].Registry)
	}

	rep, err := s.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("Verify after %d processes synced the schema: %v", syncProcs, rep.Problems)
	}
	if n, err := coll.Count(ctx); err != nil || n != syncOld+syncProcs*syncSaves2 {
		t.Errorf("Count = %d, %v; want %d", n, err, syncOld+syncProcs*syncSaves2)
	}
	for c, rep := range old {
		for j, id := range rep.IDs {
			v1 := syncV1(c, j)
			want := SyncV2{ID: airnest.MustParseID[SyncV2](id), Name: v1.Name, N: v1.N}
			got, err := coll.Load(ctx, want.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("phase 1 child %d's value %d: Load = %+v, %v; want %+v", c, j, got, err, want)
			}
		}
	}
	for c, rep := range reps {
		for j, id := range rep.IDs {
			want := syncV2(c, j)
			want.ID = airnest.MustParseID[SyncV2](id)
			got, err := coll.Load(ctx, want.ID)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("phase 2 child %d's value %d: Load = %+v, %v; want %+v", c, j, got, err, want)
			}
		}
	}
	// The index column on N was back-filled over the old rows.
	if n, err := coll.Where(airnest.Lt("N", syncOld)).Count(ctx); err != nil || n != syncOld {
		t.Errorf("old values by the back-filled column: %d, %v; want %d", n, err, syncOld)
	}
	got, err := coll.Where(airnest.Eq("N", syncSaves1+7)).Find(ctx)
	if want := syncV1(1, 7).Name; err != nil || len(got) != 1 || got[0].Name != want {
		t.Errorf("Where N = %d: %+v, %v; want the old value %q", syncSaves1+7, got, err, want)
	}
}

// checkRegistry fails unless reg holds exactly the fields want (sorted),
// with keys unique in each key space.
func checkRegistry(t *testing.T, reg map[string]int64, want ...string) {
	t.Helper()
	var names []string
	seen := map[string]string{}
	for name, key := range reg {
		names = append(names, name)
		space, _, _ := strings.Cut(name, ".")
		k := space + "#" + strconv.FormatInt(key, 10)
		if other, dup := seen[k]; dup {
			t.Errorf("key %d is both %s and %s", key, other, name)
		}
		seen[k] = name
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("key registry holds %v, want %v", names, want)
	}
}
