package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/airnest/airnest"
)

// Job is the benchmark record, as a user of airnest writes it: no tags.
type Job struct {
	ID        airnest.ID[Job]
	Status    string
	Priority  int
	CreatedAt int64
	Owner     string
	Tags      []string
	Payload   []byte
	Steps     []Step
}

// JobLite is Job without its Payload: the blob-size figure for a record
// without raw bytes is measured on it, not computed from Job's.
type JobLite struct {
	ID        airnest.ID[JobLite]
	Status    string
	Priority  int
	CreatedAt int64
	Owner     string
	Tags      []string
	Steps     []Step
}

func liteOf(j *Job) JobLite {
	return JobLite{Status: j.Status, Priority: j.Priority, CreatedAt: j.CreatedAt, Owner: j.Owner, Tags: j.Tags, Steps: j.Steps}
}

// Step is a plain nested struct.
type Step struct {
	Name string
	Done bool
	At   int64
}

// baseJob is the same record as the hand-written baseline declares it:
// static integer keys, the ID kept in the blob as airnest keeps it.
type baseJob struct {
	ID        [16]byte   `cbor:"1,keyasint,omitempty"`
	Status    string     `cbor:"2,keyasint,omitempty"`
	Priority  int        `cbor:"3,keyasint,omitempty"`
	CreatedAt int64      `cbor:"4,keyasint,omitempty"`
	Owner     string     `cbor:"5,keyasint,omitempty"`
	Tags      []string   `cbor:"6,keyasint,omitempty"`
	Payload   []byte     `cbor:"7,keyasint,omitempty"`
	Steps     []baseStep `cbor:"8,keyasint,omitempty"`
}

type baseStep struct {
	Name string `cbor:"1,keyasint,omitempty"`
	Done bool   `cbor:"2,keyasint,omitempty"`
	At   int64  `cbor:"3,keyasint,omitempty"`
}

var (
	statuses = []string{"pending", "running", "done", "failed", "retrying", "paused", "cancelled", "scheduled"}
	tagWords = []string{"urgent", "batch", "nightly", "gpu", "eu-west", "billing", "export", "retry"}
	stepName = []string{"fetch", "build", "test", "package", "deploy"}
)

const payloadSize = 256

// gen fills a record from r: both implementations draw the same sequence.
func gen(r *rand.Rand) Job {
	now := time.Now().UnixNano()
	j := Job{
		Status:    statuses[r.IntN(len(statuses))],
		Priority:  r.IntN(100),
		CreatedAt: now,
		Owner:     fmt.Sprintf("user-%05d", r.IntN(100000)),
		Tags:      []string{tagWords[r.IntN(len(tagWords))], tagWords[r.IntN(len(tagWords))]},
		Payload:   make([]byte, payloadSize),
	}
	for i := 0; i < len(j.Payload); i += 8 {
		u := r.Uint64()
		for k := 0; k < 8 && i+k < len(j.Payload); k++ {
			j.Payload[i+k] = byte(u >> (8 * k))
		}
	}
	for i := range 3 {
		j.Steps = append(j.Steps, Step{Name: stepName[r.IntN(len(stepName))], Done: i < 2, At: now + int64(i)*1e9})
	}
	return j
}

// toBase converts a record to the baseline's struct.
func toBase(j *Job, id [16]byte) baseJob {
	b := baseJob{ID: id, Status: j.Status, Priority: j.Priority, CreatedAt: j.CreatedAt,
		Owner: j.Owner, Tags: j.Tags, Payload: j.Payload}
	for _, s := range j.Steps {
		b.Steps = append(b.Steps, baseStep(s))
	}
	return b
}
