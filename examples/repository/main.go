// Repository: business code talks to a small repository type, never to the
// store. The persistence decisions (which struct is a collection, which
// fields are indexed, what runs in one transaction) live in one place, and
// the service above it depends on an interface it could fake in tests.
//
//	go run ./examples/repository            # uses a temporary file
//	go run ./examples/repository -db chat.db
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/airnest/airnest"
)

// ---- model: plain structs, no persistence in sight ----

// ChatSession is the aggregate root; Message is a plain nested value.
type ChatSession struct {
	ID        airnest.ID[ChatSession]
	User      string
	Title     string
	Messages  []Message
	UpdatedAt time.Time
}

type Message struct {
	From string
	Text string
}

// ---- persistence: the only code that knows about airnest ----

// SessionRepo stores chat sessions. It is safe for concurrent use.
type SessionRepo struct {
	sessions *airnest.Coll[ChatSession]
}

// NewSessionRepo declares the collection on store: sessions are indexed by
// user (list a user's sessions) and by update time (most recent first).
func NewSessionRepo(store *airnest.Store) SessionRepo {
	return SessionRepo{sessions: airnest.Collection[ChatSession](store, airnest.Index("user,updated_at"))}
}

// ErrNoSession is the repository's own not-found error, so callers need
// not import airnest to check it.
var ErrNoSession = errors.New("no such session")

func (r SessionRepo) Save(ctx context.Context, s *ChatSession) error {
	s.UpdatedAt = time.Now()
	return r.sessions.Save(ctx, s)
}

func (r SessionRepo) Get(ctx context.Context, id airnest.ID[ChatSession]) (ChatSession, error) {
	s, err := r.sessions.Load(ctx, id)
	if errors.Is(err, airnest.ErrNotFound) {
		return s, fmt.Errorf("%w: %s", ErrNoSession, id)
	}
	return s, err
}

// Append adds a message atomically: two concurrent appends both land.
func (r SessionRepo) Append(ctx context.Context, id airnest.ID[ChatSession], m Message) error {
	_, err := r.sessions.Update(ctx, id, func(s *ChatSession) error {
		s.Messages = append(s.Messages, m)
		s.UpdatedAt = time.Now()
		return nil
	})
	if errors.Is(err, airnest.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNoSession, id)
	}
	return err
}

// Recent lists a user's sessions, most recently updated first, through the
// composite index on (user, updated_at).
func (r SessionRepo) Recent(ctx context.Context, user string, n int) ([]ChatSession, error) {
	return r.sessions.Where(airnest.Eq("user", user)).OrderByDesc("updated_at").Limit(n).Find(ctx)
}

func (r SessionRepo) Delete(ctx context.Context, id airnest.ID[ChatSession]) error {
	return r.sessions.Delete(ctx, id)
}

// ---- service: business logic against an interface ----

// Sessions is what the chat service needs; SessionRepo provides it.
type Sessions interface {
	Save(ctx context.Context, s *ChatSession) error
	Get(ctx context.Context, id airnest.ID[ChatSession]) (ChatSession, error)
	Append(ctx context.Context, id airnest.ID[ChatSession], m Message) error
	Recent(ctx context.Context, user string, n int) ([]ChatSession, error)
	Delete(ctx context.Context, id airnest.ID[ChatSession]) error
}

type ChatService struct{ sessions Sessions }

// Start opens a conversation titled by its first message.
func (c ChatService) Start(ctx context.Context, user, text string) (airnest.ID[ChatSession], error) {
	s := ChatSession{User: user, Title: title(text), Messages: []Message{{From: user, Text: text}}}
	if err := c.sessions.Save(ctx, &s); err != nil {
		return s.ID, err
	}
	return s.ID, nil
}

// Reply appends the assistant's reply (an echo here: the model is not the point).
func (c ChatService) Reply(ctx context.Context, id airnest.ID[ChatSession]) error {
	s, err := c.sessions.Get(ctx, id)
	if err != nil {
		return err
	}
	last := s.Messages[len(s.Messages)-1]
	return c.sessions.Append(ctx, id, Message{From: "assistant", Text: "You said: " + last.Text})
}

func title(text string) string {
	if words := strings.Fields(text); len(words) > 4 {
		return strings.Join(words[:4], " ") + "..."
	}
	return text
}

func main() {
	path := flag.String("db", "", "database file (default: a temporary file)")
	flag.Parse()
	if *path == "" {
		dir, err := os.MkdirTemp("", "airnest-repository")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(dir)
		*path = filepath.Join(dir, "chat.db")
	}
	if err := run(context.Background(), *path); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, path string) error {
	store := airnest.NewStore()
	repo := NewSessionRepo(store)
	if err := store.Open(ctx, path, nil); err != nil {
		return err
	}
	defer store.Close()
	chat := ChatService{sessions: repo}

	first, err := chat.Start(ctx, "ann", "How do I back up an airnest file safely?")
	if err != nil {
		return err
	}
	second, err := chat.Start(ctx, "ann", "Index a field")
	if err != nil {
		return err
	}
	if _, err := chat.Start(ctx, "bob", "Hello"); err != nil {
		return err
	}
	fmt.Printf("started 3 sessions (ann: %s, %s)\n", first, second)

	if err := chat.Reply(ctx, first); err != nil {
		return err
	}
	s, err := repo.Get(ctx, first)
	if err != nil {
		return err
	}
	fmt.Printf("session %q has %d messages; last from %s: %s\n", s.Title, len(s.Messages), s.Messages[1].From, s.Messages[1].Text)

	recent, err := repo.Recent(ctx, "ann", 10)
	if err != nil {
		return err
	}
	fmt.Printf("ann's sessions, most recent first:\n")
	for _, r := range recent {
		fmt.Printf("  %q (%d messages)\n", r.Title, len(r.Messages))
	}

	if err := repo.Delete(ctx, second); err != nil {
		return err
	}
	_, err = repo.Get(ctx, second)
	fmt.Printf("after delete: errors.Is(err, ErrNoSession) = %v\n", errors.Is(err, ErrNoSession))
	return nil
}
