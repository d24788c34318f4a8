package sqlgen

import "fmt"

// ApplicationID marks an SQLite file as airnest's (PRAGMA application_id,
// the bytes "AirN").
const ApplicationID = 0x4169724E

// FormatVersion is the file format this release writes (PRAGMA
// user_version). 0 is the format of releases that recorded none; Open
// upgrades such a file in place.
//
//	1: application_id and user_version set; every collection table has the
//	   column _airnest_shape; _airnest_keys is validated at open.
const FormatVersion = 1

// CheckFormat says whether a file with these header values may be opened
// by this release. A file with neither set is a new file or one from a
// release before versions were recorded.
func CheckFormat(appID, version int64) error {
	switch {
	case appID == 0 && version == 0:
		return nil
	case appID != ApplicationID:
		return fmt.Errorf("not an airnest file: its application_id is %#x (user_version %d), airnest's is %#x", appID, version, ApplicationID)
	case version > FormatVersion:
		return fmt.Errorf("the file has airnest format version %d, newer than this release's %d: open it with a newer release", version, FormatVersion)
	case version < 0:
		return fmt.Errorf("the file has an invalid airnest format version %d", version)
	}
	return nil
}
