package sqlgen

// Migrations is the bookkeeping table of airnest.Migrate, one row per
// migration: the highest id it converts (fixed when it starts), the last id
// converted so far, and when it started and finished (unix nanoseconds).
// The airnest command exports and imports it with the collections.
const Migrations = `CREATE TABLE IF NOT EXISTS _airnest_migrations (
	collection TEXT NOT NULL,
	name TEXT NOT NULL,
	upto BLOB,
	cursor BLOB,
	done INTEGER NOT NULL,
	total INTEGER NOT NULL,
	started INTEGER NOT NULL,
	finished INTEGER,
	PRIMARY KEY (collection, name)
) WITHOUT ROWID`
