package airnest

import "fmt"

// NoCheckpoint, as Options.CheckpointPages, turns the writer's automatic
// checkpoints off: an external tool that reads the WAL (Litestream) does them.
const NoCheckpoint = -1

// checkWAL rejects checkpoint and WAL settings that mean nothing.
func (o *Options) checkWAL() error {
	if o.CheckpointPages < NoCheckpoint {
		return fmt.Errorf("%w: Options.CheckpointPages %d: want a page count, 0 for the default (4000) or NoCheckpoint", ErrInvalid, o.CheckpointPages)
	}
	if o.WALSizeLimit < -1 {
		return fmt.Errorf("%w: Options.WALSizeLimit %d: want bytes, 0 for the default or -1 for no limit", ErrInvalid, o.WALSizeLimit)
	}
	return nil
}
