package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/crmsync/crmsync/telephony"
)

func runMigrate(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("migrate", "Apply pending database migrations and exit.", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Migrate: true, Logger: newLogger(cfg, os.Stderr)}
	defer m.Close()
	if err := m.openStore(ctx); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "database schema is up to date")
	return nil
}

func runTenant(ctx context.Context, args []string, stdout io.Writer) error {
	const summary = "Manage tenants.\n\n" +
		"  crmsync tenant create --name N [--prefix 19079] [--region UA] [--tz Europe/Kyiv]\n" +
		"      prints one JSON object with id and api_key (shown only once)\n" +
		"  crmsync tenant list\n" +
		"      prints one JSON object per tenant"
	if len(args) == 0 || (args[0] != "create" && args[0] != "list") {
		fs := newFlags("tenant", summary, stdout)
		if err := parseFlags(fs, args); err != nil {
			return err
		}
		return usageError{errors.New("want a subcommand: create or list")}
	}
	sub, args := args[0], args[1:]
	fs := newFlags("tenant "+sub, summary, stdout)
	var in telephony.NewTenant
	if sub == "create" {
		fs.StringVar(&in.Name, "name", "", "tenant name (required)")
		fs.StringVar(&in.Prefix, "prefix", "", "login prefix, 3–9 digits (default: a free random 5-digit number)")
		fs.StringVar(&in.Region, "region", "", "default phone region, ISO 3166 code (default US)")
		fs.StringVar(&in.TimeZone, "tz", "", "IANA time zone for schedules (default UTC)")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	m := &Main{Config: cfg, Migrate: true, Logger: newLogger(cfg, io.Discard)}
	defer m.Close()
	if err := m.openStore(ctx); err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	if sub == "list" {
		ts, err := m.DB.Tenants(ctx)
		if err != nil {
			return err
		}
		for _, t := range ts {
			if err := enc.Encode(t); err != nil {
				return err
			}
		}
		return nil
	}
	t, creds, err := m.DB.CreateTenant(ctx, in)
	if err != nil {
		var es telephony.Errors
		if errors.As(err, &es) {
			return usageError{err}
		}
		return err
	}
	return enc.Encode(map[string]any{
		"id":             t.ID,
		"name":           t.Name,
		"prefix":         t.Prefix,
		"region":         t.Region,
		"timezone":       t.TimeZone,
		"api_key":        creds.APIKey,
		"signing_secret": creds.SigningSecret,
	})
}
