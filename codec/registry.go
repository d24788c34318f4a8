package codec

import (
	"sort"
)

// Entry is one persisted registry row.
type Entry struct {
	Space string // "" for the root struct, "Steps", "Steps.Args", ...
	Name  string // stored field name
	Key   uint64
	Type  string // Go type recorded when the key was assigned
}

// Registry is the name→key table of one collection. Not safe for
// concurrent mutation; the caller serialises.
type Registry struct {
	spaces map[string]*regSpace
}

type regSpace struct {
	byName map[string]Entry
	byKey  map[uint64]Entry
	max    uint64
}

// NewRegistry builds a registry from persisted entries. When two entries
// share a (Space, Name) or a (Space, Key), the later one wins.
func NewRegistry(entries []Entry) *Registry {
	r := &Registry{spaces: make(map[string]*regSpace)}
	for _, e := range entries {
		r.add(e)
	}
	return r
}

func (r *Registry) space(s string) *regSpace {
	if r.spaces == nil {
		r.spaces = make(map[string]*regSpace)
	}
	sp := r.spaces[s]
	if sp == nil {
		sp = &regSpace{byName: make(map[string]Entry), byKey: make(map[uint64]Entry)}
		r.spaces[s] = sp
	}
	return sp
}

func (r *Registry) add(e Entry) {
	sp := r.space(e.Space)
	if old, ok := sp.byName[e.Name]; ok && old.Key != e.Key {
		delete(sp.byKey, old.Key)
	}
	if old, ok := sp.byKey[e.Key]; ok && old.Name != e.Name {
		delete(sp.byName, old.Name)
	}
	sp.byName[e.Name] = e
	sp.byKey[e.Key] = e
	if e.Key > sp.max {
		sp.max = e.Key
	}
}

func (r *Registry) clone() *Registry {
	c := &Registry{spaces: make(map[string]*regSpace, len(r.spaces))}
	for name, sp := range r.spaces {
		n := &regSpace{byName: make(map[string]Entry, len(sp.byName)), byKey: make(map[uint64]Entry, len(sp.byKey)), max: sp.max}
		for k, v := range sp.byName {
			n.byName[k] = v
		}
		for k, v := range sp.byKey {
			n.byKey[k] = v
		}
		c.spaces[name] = n
	}
	return c
}

// Entries returns all entries, sorted by Space, then Key.
func (r *Registry) Entries() []Entry {
	if r == nil {
		return nil
	}
	var out []Entry
	for _, sp := range r.spaces {
		for _, e := range sp.byKey {
			out = append(out, e)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Space != out[j].Space {
			return out[i].Space < out[j].Space
		}
		return out[i].Key < out[j].Key
	})
	return out
}

// Lookup returns the entry of key in space.
func (r *Registry) Lookup(space string, key uint64) (Entry, bool) {
	if r == nil || r.spaces == nil {
		return Entry{}, false
	}
	sp := r.spaces[space]
	if sp == nil {
		return Entry{}, false
	}
	e, ok := sp.byKey[key]
	return e, ok
}
