package backup

// PGEnv is pgEnv for tests.
var PGEnv = pgEnv
