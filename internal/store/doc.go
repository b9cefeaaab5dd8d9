// Package store persists lcauth's installations, their sealed tokens and API-key hashes in one
// DynamoDB table. It is the only package that talks to DynamoDB. Every token write is conditional on
// the version read, so no result is lost or overwritten by an older one.
//
// # Table
//
// One item per installation, keyed by pk = InstallationID(organization_id, account_id): 26 characters
// of [a-z2-7] (a truncated SHA-256), so a reinstall finds the same item. Attributes (times are Unix
// milliseconds unless noted):
//
//	pk                  S  installation id (table partition key)
//	organization_id     S  LiveChat organization
//	account_id          S  LiveChat account (the agent who authorized)
//	region              S  LiveChat region, e.g. "dal"
//	access_token        S  sealed (see below)
//	refresh_token       S  sealed
//	token_type, scope   S
//	expires_at          N  access-token expiry
//	status              S  "active" | "reauthorization_required" | "uninstalled"
//	status_reason       S  why reauthorization is required (absent when active)
//	status_changed_at   N
//	version             N  +1 on every token or status change; every such write is conditional on it
//	created_at          N  kept across reinstalls
//	updated_at          N
//	last_refreshed_at   N  absent until the first refresh
//	last_error_class    S  last failed refresh (cleared by a successful one)
//	last_error_message  S  at most MaxErrorMessage bytes, never a secret
//	last_error_at       N
//	api_key_hash        B  SHA-256 of "lcauth/api-key/v1", id and the key's secret
//	lease_owner         S  refresh lease holder (diagnostics)
//	lease_id            S  random per acquisition; lease writes are conditional on it
//	lease_expires_at    N  the lease lapses by itself at this time
//	due_shard           N  DueShard(id), 0..15   } only on active installations:
//	due_at              N  expires_at, seconds   } the keys of the sparse "due" GSI
//
// The "due" GSI (due_shard HASH, due_at RANGE, projection ALL) holds active installations only, so
// ListDue is a Query per shard whose cost is the number of due items, never a Scan. There is no TTL
// attribute. The "organization" GSI (organization_id HASH, keys only) finds an organization's
// installations for the uninstall webhook (OrganizationInstallations, a Query). Schema() is the single
// description of the table for the CDK stack, local mode and tests.
//
// # Uninstall
//
// MarkUninstalled is one write conditional on the version read: status uninstalled with its reason,
// sealed tokens and expires_at removed, out of the due index, lease dropped, version + 1. The item
// stays for the operator (and so that a key holder is told "uninstalled" rather than "invalid key");
// a refresh in flight cannot write tokens back (its writes are conditional on the old version).
//
// # Sealing
//
// Tokens are sealed by a sealing.Sealer with AES-256-GCM and the additional data
// "lcauth/token/v1", installation id and attribute name, so a ciphertext copied to another item or
// attribute does not open.
//
// # API keys
//
// "lca_" + installation id + "_" + 52 characters of [a-z2-7] (256 random bits). Only a hash is
// stored; Authenticate is one consistent GetItem and a constant-time comparison, and answers
// ErrUnauthorized alike for malformed keys, unknown installations and wrong secrets.
//
// # Refresh protocol
//
// ListDue -> AcquireLease(id, version read) -> call LiveChat -> CompleteRefresh (new tokens, version+1,
// lease cleared), or ReleaseLease (error recorded, tokens kept), or MarkReauthorizationRequired
// (version+1, out of the due index, tokens kept). Acquiring is conditional on the version and on no
// live lease; the writes under a lease are conditional on the version and the lease id. A crashed
// holder's lease lapses at lease_expires_at and the next refresher takes it over; the old holder's
// late writes are then refused (ErrLeaseHeld). Install bumps the version, so a refresh in flight during
// a reinstall cannot overwrite it (ErrVersionConflict). DynamoDB transactions are not needed (and
// dynalite has none): every operation is one single-item conditional write.
package store
