package airnest_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// TestExamples builds each program under examples/ and runs it as a user
// would (on a temporary file, its default), checking the lines that show
// it did what its comment says.
func TestExamples(t *testing.T) {
	t.Parallel()
	const uuid = `[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}`
	examples := map[string][]string{
		"quickstart": {
			`(?m)^saved job ` + uuid + ` \(created `,
			`(?m)^loaded: status=pending priority=3 steps=1$`,
			`(?m)^updated: status=done step "fetch" done=true$`,
			`(?m)^4 jobs in app\.db$`,
			`(?m)^  done priority=3\n  pending priority=0\n  pending priority=1\n  pending priority=2\n`,
		},
		"agent": {
			`(?m)^saved workflow run ` + uuid + ` and session ` + uuid + ` in one transaction$`,
			`(?m)^reader got user: Find flights to Lisbon next Friday\nreader got tool: 3 flights\nreader got assistant: I found 3 flights to Lisbon on Friday\.$`,
			`(?m)^session ` + uuid + `: 3 messages, 1 tool calls$`,
			`(?m)^  assistant: +I found 3 flights to Lisbon on Friday\.$`,
			`(?m)^  tool call search_flights\(to=LIS\) -> 3 flights in 420ms$`,
			`(?m)^running workflows: 1\n  ` + uuid + ` steps=\[plan search\]\n`,
			`(?m)^finished workflow ` + uuid + `: status=done steps=\[plan search answer\]\nrunning workflows: 0$`,
			`(?m)^1 session\(s\) for workflow ` + uuid + `; 2 workflow runs in agent\.db$`,
		},
		"repository": {
			`(?m)^started 3 sessions \(ann: ` + uuid + `, ` + uuid + `\)$`,
			`(?m)^session "How do I back\.\.\." has 2 messages; last from assistant: You said: How do I back up`,
			`(?m)^ann's sessions, most recent first:\n  "How do I back\.\.\." \(2 messages\)\n  "Index a field" \(1 messages\)$`,
			`(?m)^after delete: errors\.Is\(err, ErrNoSession\) = true$`,
		},
	}
	for name, want := range examples {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bin := filepath.Join(t.TempDir(), name)
			if out, err := exec.Command("go", "build", "-o", bin, "./examples/"+name).CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			out, err := exec.Command(bin).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, out)
			}
			for _, re := range want {
				if !regexp.MustCompile(re).Match(out) {
					t.Errorf("%s: output does not match %s:\n%s", name, re, out)
				}
			}
		})
	}
}
