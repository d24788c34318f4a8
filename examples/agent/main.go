// Agent: the state of an AI agent in one file. Sessions carry their message
// history and a log of tool calls; workflow runs are indexed by status so
// the running ones are found without loading every run; a session and its
// run are saved together in one transaction; a reader loop (a UI, say)
// follows the session's new messages with Watch instead of polling.
//
//	go run ./examples/agent            # uses a temporary file
//	go run ./examples/agent -db agent.db
//
// Then look inside without Go types: airnest ls agent.db
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/airnest/airnest"
)

// AgentSession is an aggregate root: everything below it (messages, tool
// calls) is a plain struct, stored inside the session's value.
type AgentSession struct {
	ID        airnest.ID[AgentSession]
	Workflow  airnest.ID[WorkflowRun] // typed reference: an ID of another collection
	Messages  []Message
	ToolCalls []ToolCall
	CreatedAt time.Time
}

type Message struct {
	Role    string // "user", "assistant", "tool"
	Content string
}

type ToolCall struct {
	Tool     string
	Args     map[string]string
	Result   string
	Duration time.Duration
}

// WorkflowRun is indexed by status: that field is also a SQL column with
// an index, so "which runs are running?" does not decode every run.
type WorkflowRun struct {
	ID        airnest.ID[WorkflowRun]
	Status    string // "running", "done", "failed"
	Steps     []string
	StartedAt time.Time
}

var (
	store = airnest.NewStore()
	// ChangeLog keeps the sessions' committed changes for Watch.
	Sessions = airnest.Collection[AgentSession](store, airnest.Index("workflow"), airnest.ChangeLog(airnest.Retention{}))
	Runs     = airnest.Collection[WorkflowRun](store, airnest.Index("status"))
)

func main() {
	path := flag.String("db", "", "database file (default: a temporary file)")
	flag.Parse()
	if *path == "" {
		dir, err := os.MkdirTemp("", "airnest-agent")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*path = filepath.Join(dir, "agent.db")
	}
	if err := run(context.Background(), *path); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, path string) error {
	if err := store.Open(ctx, path, nil); err != nil {
		return err
	}
	defer store.Close()

	// A run and the session driving it, saved atomically: both or neither.
	wf := WorkflowRun{Status: "running", Steps: []string{"plan"}, StartedAt: time.Now()}
	session := AgentSession{CreatedAt: time.Now(), Messages: []Message{{Role: "user", Content: "Find flights to Lisbon next Friday"}}}
	err := store.Tx(ctx, func(tx *airnest.Tx) error {
		if err := Runs.In(tx).Save(ctx, &wf); err != nil {
			return err
		}
		session.Workflow = wf.ID
		return Sessions.In(tx).Save(ctx, &session)
	})
	if err != nil {
		return err
	}
	fmt.Printf("saved workflow run %s and session %s in one transaction\n", wf.ID, session.ID)

	// The reader loop runs beside the agent and receives each message as
	// it commits.
	readerCtx, stopReader := context.WithCancel(ctx)
	defer stopReader()
	streamed := make(chan Message, 16)
	readerDone := make(chan error, 1)
	go func() { readerDone <- streamMessages(readerCtx, session.ID, streamed) }()

	// A second run that already finished, so the query below has something to skip.
	old := WorkflowRun{Status: "done", Steps: []string{"plan", "answer"}, StartedAt: time.Now().Add(-time.Hour)}
	if err := Runs.Save(ctx, &old); err != nil {
		return err
	}

	// The agent loop: a tool call and the assistant's answer, each step
	// appended with Update (load, change, save in one write transaction).
	call := ToolCall{Tool: "search_flights", Args: map[string]string{"to": "LIS", "date": "friday"}, Result: "3 flights", Duration: 420 * time.Millisecond}
	_, err = Sessions.Update(ctx, session.ID, func(s *AgentSession) error {
		s.ToolCalls = append(s.ToolCalls, call)
		s.Messages = append(s.Messages,
			Message{Role: "tool", Content: call.Result},
			Message{Role: "assistant", Content: "I found 3 flights to Lisbon on Friday."})
		return nil
	})
	if err != nil {
		return err
	}
	_, err = Runs.Update(ctx, wf.ID, func(r *WorkflowRun) error {
		r.Steps = append(r.Steps, "search")
		return nil
	})
	if err != nil {
		return err
	}

	for range 3 {
		select {
		case m := <-streamed:
			fmt.Printf("reader got %s: %s\n", m.Role, m.Content)
		case err := <-readerDone:
			return err
		}
	}
	stopReader()
	if err := <-readerDone; !errors.Is(err, context.Canceled) {
		return err
	}

	loaded, err := Sessions.Load(ctx, session.ID)
	if err != nil {
		return err
	}
	fmt.Printf("session %s: %d messages, %d tool calls\n", loaded.ID, len(loaded.Messages), len(loaded.ToolCalls))
	for _, m := range loaded.Messages {
		fmt.Printf("  %-11s %s\n", m.Role+":", m.Content)
	}
	for _, c := range loaded.ToolCalls {
		fmt.Printf("  tool call %s(to=%s) -> %s in %s\n", c.Tool, c.Args["to"], c.Result, c.Duration)
	}

	// Query on the indexed column: only running runs are read.
	if err := printRunning(ctx); err != nil {
		return err
	}

	// Finish the run and mark it done; the session finds its run by ID.
	run, err := Runs.Update(ctx, loaded.Workflow, func(r *WorkflowRun) error {
		r.Steps = append(r.Steps, "answer")
		r.Status = "done"
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("finished workflow %s: status=%s steps=%v\n", run.ID, run.Status, run.Steps)
	if err := printRunning(ctx); err != nil {
		return err
	}

	// Sessions of a workflow, through the index on the reference.
	n, err := Sessions.Where(airnest.Eq("workflow", run.ID)).Count(ctx)
	if err != nil {
		return err
	}
	total, err := Runs.Count(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("%d session(s) for workflow %s; %d workflow runs in %s\n", n, run.ID, total, filepath.Base(path))
	return nil
}

// streamMessages follows one session: Watch delivers each committed save
// of it (from this program or another on the same file), and the loop
// sends the messages it has not sent yet. It returns ctx's error when ctx
// ends.
func streamMessages(ctx context.Context, id airnest.ID[AgentSession], out chan<- Message) error {
	sent := 0
	// Resume from the start of the log: the session's first save is
	// included even if it committed before the watch began.
	for ch, err := range Sessions.Where(airnest.Eq("id", id)).Watch(ctx, &airnest.WatchOptions{Resume: true}) {
		if err != nil {
			return err
		}
		if ch.Op != airnest.Saved {
			continue
		}
		for ; sent < len(ch.Value.Messages); sent++ {
			out <- ch.Value.Messages[sent]
		}
	}
	return nil
}

func printRunning(ctx context.Context) error {
	running, err := Runs.Where(airnest.Eq("status", "running")).Find(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("running workflows: %d\n", len(running))
	for _, r := range running {
		fmt.Printf("  %s steps=%v\n", r.ID, r.Steps)
	}
	return nil
}
