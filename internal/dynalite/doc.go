// Package dynalite runs dynalite, the DynamoDB-compatible server from npm, as a child process for tests
// and local mode, and creates the lcauth table in it from store.Schema.
//
// The dynalite binary comes from <repo>/node_modules/.bin (installed by `make setup`); nothing is
// downloaded at run time. The server listens on 127.0.0.1 only, on a free port, and dies with Close (or
// with the parent process on Linux).
package dynalite
