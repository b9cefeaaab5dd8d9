// Package hardening holds lcauth's evidence that it keeps working under abuse, faults and load. It has
// no production code: its tests run the real composition (internal/app) on a loopback HTTP server in
// front of the LiveChat simulator, dynalite, and the Secrets Manager and KMS fakes, and inject faults
// into each: the abuse suite (*_abuse_test.go), the fault suite (*_fault_test.go) and a bounded load test
// (*_load_test.go). SECURITY.md at the repository root names these tests next to the threats they
// cover.
package hardening
