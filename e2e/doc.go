// Package e2e holds lcauth's end-to-end tests and the small harness they run on.
//
// The tests exercise what users and AWS actually run, not the packages one by one:
//   - the browser suite drives `lcauth dev` (the binary, as `make dev` starts it) with headless
//     Chromium through install, consent, callback and /chats, and the Deny and tampered-state paths;
//   - the Lambda suite builds the four functions exactly as `make build` does (for the host
//     architecture), runs each under the AWS Lambda Runtime Interface Emulator with the environment
//     the CDK stack gives it (config.ForFunction), against dynalite, the LiveChat simulator and the
//     Secrets Manager and KMS fakes, and sends API Gateway HTTP API v2 events through it;
//   - BenchmarkColdStart measures binary sizes and cold starts under the emulator next to a
//     hello-world Lambda built the same way.
//
// The harness: Emulator runs one Lambda binary under the emulator and invokes it serially (the
// emulator serves one invocation at a time); Gateway is an http.RoundTripper that turns HTTP requests
// into API Gateway v2 events for the function that serves each route, so tests use a plain
// http.Client with a cookie jar; Build compiles Lambda binaries with the Makefile's flags.
//
// Missing tools (dynalite in node_modules, Chromium) fail the tests with a hint to run `make setup`;
// nothing here skips.
package e2e
