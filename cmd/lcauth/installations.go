package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"lcauth/internal/app"
	"lcauth/internal/config"
	"lcauth/internal/lifecycle"
	"lcauth/internal/store"
)

// installationsUsage is the help of `lcauth installations`.
const installationsUsage = `usage: lcauth installations <list|show|uninstall|delete> ...
  list [-status S] [-json]   every installation (status: active, reauthorization_required, uninstalled)
  show [-json] ID            one installation (never its tokens)
  uninstall ID               as LiveChat's application_uninstalled webhook: revoke the tokens at
                             LiveChat, erase them, status uninstalled; installing again starts afresh
  delete ID                  uninstall, then remove the item (a customer's erasure request)
Configuration as for every command: LCAUTH_TABLE, DynamoDB from the AWS credentials or
DYNAMODB_ENDPOINT, the sealing key (LCAUTH_KMS_KEY_ID, LCAUTH_SEALING_KEY or .lcauth/sealing.key),
LIVECHAT_CLIENT_ID and LIVECHAT_ACCOUNTS_URL for the revocation.`

// runInstallations is the operator's view of installations: list, show, uninstall, delete.
func runInstallations(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(stderr, installationsUsage)
		if len(args) == 0 {
			return errors.New("a subcommand is required")
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fs := newFlags("lcauth installations "+sub, stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, installationsUsage) }
	status := fs.String("status", "", "list only installations with this status")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	stateDir := fs.String("state", ".lcauth", "folder of the sealing key `lcauth dev` keeps")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var id string
	switch sub {
	case "list":
		if fs.NArg() > 0 {
			return fmt.Errorf("list takes no arguments, got %q", fs.Args())
		}
	case "show", "uninstall", "delete":
		if fs.NArg() != 1 {
			return fmt.Errorf("%s takes exactly one installation id", sub)
		}
		id = fs.Arg(0)
	default:
		fmt.Fprintln(stderr, installationsUsage)
		return fmt.Errorf("unknown subcommand %q", sub)
	}
	a, err := operatorApp(ctx, getenv, *stateDir, stderr)
	if err != nil {
		return err
	}
	op := installationsOp{st: a.Store(), u: a.Uninstaller(), out: stdout, json: *asJSON}
	switch sub {
	case "list":
		return op.list(ctx, store.Status(*status))
	case "show":
		return op.show(ctx, id)
	default:
		return op.end(ctx, id, sub == "delete")
	}
}

// operatorApp builds the App for the operator commands: the table, the sealing key and the LiveChat
// client (to revoke); no HTTP is served, so the redirect URL may be unset.
func operatorApp(ctx context.Context, getenv func(string) string, stateDir string, stderr io.Writer) (*app.App, error) {
	getenv, err := withLocalSealingKey(getenv, stateDir)
	if err != nil {
		return nil, err
	}
	env := func(name string) string {
		if v := getenv(name); v != "" || name != config.EnvRedirectURL {
			return v
		}
		return "http://localhost/callback" // not served by these commands
	}
	return newCommandApp(ctx, env, stderr, "cli", config.FunctionInstallations)
}

type installationsOp struct {
	st   *store.Store
	u    *lifecycle.Uninstaller
	out  io.Writer
	json bool
}

// installationView is what the commands print of an installation: never a token.
type installationView struct {
	ID              string     `json:"installation_id"`
	OrganizationID  string     `json:"organization_id"`
	AccountID       string     `json:"account_id"`
	Region          string     `json:"region,omitempty"`
	Status          string     `json:"status"`
	StatusReason    string     `json:"status_reason,omitempty"`
	StatusChangedAt *time.Time `json:"status_changed_at,omitempty"`
	Scope           string     `json:"scope,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	UpdatedAt       *time.Time `json:"updated_at,omitempty"`
	LastRefreshedAt *time.Time `json:"last_refreshed_at,omitempty"`
	LastErrorClass  string     `json:"last_error_class,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	Version         int64      `json:"version"`
}

func view(i *store.Installation) installationView {
	v := installationView{
		ID: i.ID, OrganizationID: i.OrganizationID, AccountID: i.AccountID, Region: i.Region,
		Status: string(i.Status), StatusReason: i.StatusReason, StatusChangedAt: store.OptionalTime(i.StatusChangedAt),
		Scope: i.Scope, ExpiresAt: store.OptionalTime(i.ExpiresAt), CreatedAt: store.OptionalTime(i.CreatedAt), UpdatedAt: store.OptionalTime(i.UpdatedAt),
		LastRefreshedAt: store.OptionalTime(i.LastRefreshedAt), Version: i.Version,
	}
	if e := i.LastRefreshError; e != nil {
		v.LastErrorClass, v.LastError = e.Class, e.Message
	}
	return v
}

func (o installationsOp) list(ctx context.Context, status store.Status) error {
	switch status {
	case "", store.StatusActive, store.StatusReauthorizationRequired, store.StatusUninstalled:
	default:
		return fmt.Errorf("unknown status %q; use active, reauthorization_required or uninstalled", status)
	}
	views := []installationView{}
	tok := ""
	for {
		page, err := o.st.ListInstallations(ctx, store.ListOptions{Status: status, PageToken: tok, Limit: store.MaxListLimit})
		if err != nil {
			return err
		}
		for _, i := range page.Installations {
			views = append(views, view(i))
		}
		if tok = page.NextPageToken; tok == "" {
			break
		}
	}
	if o.json {
		return o.printJSON(views)
	}
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tORGANIZATION\tACCOUNT\tREGION\tTOKEN EXPIRES\tUPDATED")
	for _, v := range views {
		status := v.Status
		if v.StatusReason != "" {
			status += " (" + v.StatusReason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, status, v.OrganizationID, v.AccountID, dash(v.Region), when(v.ExpiresAt), when(v.UpdatedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(o.out, "%d installation(s)\n", len(views))
	return nil
}

func (o installationsOp) show(ctx context.Context, id string) error {
	inst, err := o.get(ctx, id)
	if err != nil {
		return err
	}
	v := view(inst)
	if o.json {
		return o.printJSON(v)
	}
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', 0)
	for _, row := range [][2]string{
		{"Installation", v.ID}, {"Status", v.Status}, {"Status reason", dash(v.StatusReason)}, {"Status changed", when(v.StatusChangedAt)},
		{"Organization", v.OrganizationID}, {"Account", v.AccountID}, {"Region", dash(v.Region)}, {"Scope", dash(v.Scope)},
		{"Token expires", when(v.ExpiresAt)}, {"Last refreshed", when(v.LastRefreshedAt)},
		{"Last refresh error", dash(strings.TrimSpace(v.LastErrorClass + " " + v.LastError))},
		{"Created", when(v.CreatedAt)}, {"Updated", when(v.UpdatedAt)}, {"Version", fmt.Sprint(v.Version)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// end uninstalls (and with del, deletes) one installation.
func (o installationsOp) end(ctx context.Context, id string, del bool) error {
	if _, err := o.get(ctx, id); err != nil {
		return err
	}
	var (
		out lifecycle.Outcome
		err error
	)
	if del {
		out, err = o.u.Delete(ctx, id)
	} else {
		out, err = o.u.Uninstall(ctx, id, store.UninstalledByOperator)
	}
	if err != nil {
		return err
	}
	switch {
	case out.Result == lifecycle.AlreadyUninstalled && !del:
		fmt.Fprintf(o.out, "%s was already uninstalled; nothing changed.\n", id)
	case out.Result == lifecycle.AlreadyUninstalled:
		fmt.Fprintf(o.out, "%s (already uninstalled) deleted.\n", id)
	default:
		fmt.Fprintf(o.out, "%s uninstalled: tokens revoked at LiveChat and erased, installation keys refused.\n", id)
		if del {
			fmt.Fprintf(o.out, "%s deleted.\n", id)
		}
	}
	if out.RevokeError != "" {
		fmt.Fprintf(o.out, "warning: LiveChat could not be asked to revoke the tokens (%s); they were erased here all the same.\n", out.RevokeError)
	}
	return nil
}

func (o installationsOp) get(ctx context.Context, id string) (*store.Installation, error) {
	inst, err := o.st.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no installation has the id %q (see lcauth installations list)", id)
	}
	return inst, err
}

func (o installationsOp) printJSON(v any) error {
	enc := json.NewEncoder(o.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.RFC3339)
}
