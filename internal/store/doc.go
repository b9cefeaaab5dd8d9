// Package store persists lcauth's installations, their sealed tokens and API-key hashes in one
// DynamoDB table. It is the only package that talks to DynamoDB. Every token write is conditional on
// the version read, so no result is lost or overwritten by an older one.
package store
