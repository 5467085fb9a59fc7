package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
	"github.com/redis/go-redis/v9"

	"github.com/crmsync/crmsync/connectors"
	"github.com/crmsync/crmsync/connectors/amocrm/amocrmtest"
	"github.com/crmsync/crmsync/connectors/connectortest"
	"github.com/crmsync/crmsync/mapping"
	"github.com/crmsync/crmsync/store"
	"github.com/crmsync/crmsync/telephony"
)

// The tenant the benchmark seeds: every call goes to did; caller i's
// contact (when i is known) belongs to CRM user 1000+i%managers, linked
// to the employee whose main contact is managerNumber(i).
const (
	did         = "+380441234567"
	managers    = 500
	appName     = "crmsync-bench-router" // PostgreSQL application_name of the router's connections
	secretKey   = "bench-router-secret-key-0123456789abcdef"
	orderCode   = 3 // routing's code for the search order [contact] (snapshot.go)
	redisPrefix = "crmsync:routing:"
)

func managerNumber(i int) string { return fmt.Sprintf("+38067%07d", i%managers) }
func crmUserID(i int) string     { return strconv.Itoa(1000 + i%managers) }
func contactID(i int) string     { return strconv.Itoa(1_000_000 + i) }

// known reports whether caller i of the injection file is in the CRM.
func known(i int) bool { return i%10 != 9 }

// callerNumber is caller i of the injection file: a CRM contact's number
// when known, else a number nobody has.
func callerNumber(i int) string {
	if known(i) {
		return knownCaller(i)
	}
	return fmt.Sprintf("+38099%07d", i)
}

// world is what `crmsync router` runs against: a fresh schema in the
// test PostgreSQL, a Redis database of its own, the amoCRM fake, and the
// seeded tenant.
type world struct {
	pgBase, schema, dsn string
	redisURL            string
	rdb                 *redis.Client
	claim               string // the testenv claim key of our Redis database
	amo                 *amocrmtest.Server
	tenantID, accountID int64
}

// openWorld creates the schema, claims and flushes a Redis database,
// starts the CRM fake with the known callers' contacts, and seeds the
// tenant: a DID, the managers as employees, the amo account and its
// users linked to them by email (the store's user sync).
func openWorld(ctx context.Context, pgBase, redisBase string, callers int) (*world, error) {
	w := &world{pgBase: pgBase, schema: "bench_router_" + randomHex()}
	admin, err := sql.Open("pgx", pgBase)
	if err != nil {
		return w, err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+w.schema); err != nil {
		return w, fmt.Errorf("postgres %s: %w", pgBase, err)
	}
	u, err := url.Parse(pgBase)
	if err != nil {
		return w, err
	}
	q := u.Query()
	q.Set("search_path", w.schema)
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	w.dsn = u.String()

	if err := w.claimRedis(ctx, redisBase); err != nil {
		return w, err
	}

	backend := connectortest.NewBackend()
	for j := range managers {
		backend.AddUsers(connectors.User{ID: crmUserID(j), Name: managerName(j), Email: managerEmail(j), Active: true})
	}
	recs := make([]connectortest.Record, 0, callers)
	for i := range callers {
		if known(i) {
			recs = append(recs, connectortest.Record{Entity: connectors.Entity{Kind: connectors.KindContact,
				ID: contactID(i), Title: "Client " + contactID(i), ResponsibleUserID: crmUserID(i),
				Phones: []string{callerNumber(i)}}})
		}
	}
	backend.AddRecords(recs...)
	w.amo = amocrmtest.NewServer(backend)

	sealer, err := store.NewSealer(secretKey)
	if err != nil {
		return w, err
	}
	db, err := store.Open(ctx, store.Options{URL: w.dsn, Sealer: sealer, Migrate: true})
	if err != nil {
		return w, err
	}
	defer db.Close()
	return w, w.seed(ctx, db)
}

func (w *world) seed(ctx context.Context, db *store.DB) error {
	tn, _, err := db.CreateTenant(ctx, telephony.NewTenant{Name: "Bench", Region: "UA", TimeZone: "Europe/Kyiv"})
	if err != nil {
		return err
	}
	w.tenantID = tn.ID
	rt := telephony.DefaultRouting()
	rt.Order = []string{"contact"} // one CRM request a lookup (orderCode)
	if err := db.UpdateRouting(ctx, tn.ID, rt); err != nil {
		return err
	}
	if _, err := db.CreateNumber(ctx, tn.ID, telephony.NumberInput{Number: did}); err != nil {
		return err
	}
	users := make([]mapping.CRMUser, 0, managers)
	for j := range managers {
		in := telephony.EmployeeInput{FullName: managerName(j), Email: managerEmail(j), MainContacts: []string{managerNumber(j)}}
		if _, err := db.CreateEmployee(ctx, tn.ID, in); err != nil {
			return fmt.Errorf("employee %d: %w", j, err)
		}
		users = append(users, mapping.CRMUser{ID: crmUserID(j), Name: managerName(j), Email: managerEmail(j), Active: true})
	}
	acct, err := db.LinkAccount(ctx, tn.ID, store.LinkAccount{Connector: "amocrm", Name: "amo", ExternalID: "1",
		BaseURL: w.amo.URL, Token: w.amo.IssueToken(time.Now().Add(24 * time.Hour))})
	if err != nil {
		return err
	}
	w.accountID = acct.ID
	res, err := db.ApplyUserSync(ctx, tn.ID, acct.ID, users)
	if err != nil {
		return err
	}
	links, err := db.AccountLinks(ctx, tn.ID, acct.ID)
	if err != nil {
		return err
	}
	linked := 0
	for _, l := range links {
		if l.EmployeeID != nil {
			linked++
		}
	}
	if linked != managers {
		return fmt.Errorf("user sync linked %d of %d CRM users: %+v", linked, managers, res)
	}
	return nil
}

func managerName(j int) string  { return fmt.Sprintf("Manager %03d", j) }
func managerEmail(j int) string { return fmt.Sprintf("manager%03d@bench.example", j) }

// claimRedis takes a Redis database 1–15 with internal/testenv's claim
// protocol (a key in database 0 holding our pid), so that tests running on
// the machine at the same time keep theirs, and flushes only it.
func (w *world) claimRedis(ctx context.Context, base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return err
	}
	u.Path = "/0"
	opts, err := redis.ParseURL(u.String())
	if err != nil {
		return err
	}
	c := redis.NewClient(opts)
	defer c.Close()
	pid := os.Getpid()
	for db := 1; db <= 15; db++ {
		key := "crmsync:testenv:db:" + strconv.Itoa(db)
		ok, err := c.SetNX(ctx, key, pid, 2*time.Hour).Result()
		if err != nil {
			return fmt.Errorf("redis %s: %w", base, err)
		}
		if !ok {
			holder, _ := c.Get(ctx, key).Int()
			if _, err := os.Stat("/proc/" + strconv.Itoa(holder)); holder == 0 || err == nil {
				continue
			}
			if prev, err := c.GetSet(ctx, key, pid).Int(); err != nil || prev != holder {
				continue
			}
		}
		w.claim = key
		u.Path = "/" + strconv.Itoa(db)
		w.redisURL = u.String()
		opts, _ := redis.ParseURL(w.redisURL)
		w.rdb = redis.NewClient(opts)
		return w.rdb.FlushDB(ctx).Err()
	}
	return errors.New("no free Redis database 1–15 (test processes hold them all)")
}

// seedRedis writes every caller's answer into the shared Redis layer, as
// a router that had looked them up in the CRM would have (cache.go's
// encodeAnswer: "1|fetched ms|order|account|kind|crm user|entity id", or
// "0|fetched ms|order" for no match, with the resolver's default TTLs).
// Callers in skip are left for the CRM. amo allows 7 requests a second,
// so 100,000 lookups through the fake would take four hours; the spot
// check (checkCRMPath) shows the CRM path gives the same answers.
func (w *world) seedRedis(ctx context.Context, callers int, skip map[int]bool) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	pipe := w.rdb.Pipeline()
	for i := range callers {
		if skip[i] {
			continue
		}
		key := redisPrefix + "a:" + strconv.FormatInt(w.tenantID, 10) + ":" + callerNumber(i)
		if known(i) {
			v := strings.Join([]string{"1", now, strconv.Itoa(orderCode), strconv.FormatInt(w.accountID, 10),
				string(connectors.KindContact), crmUserID(i), contactID(i)}, "|")
			pipe.Set(ctx, key, v, 30*time.Minute)
		} else {
			pipe.Set(ctx, key, "0|"+now+"|"+strconv.Itoa(orderCode), 2*time.Minute)
		}
		if pipe.Len() >= 5000 {
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
		}
	}
	_, err := pipe.Exec(ctx)
	return err
}

// routerEnv is the environment `crmsync router` runs with.
func (w *world) routerEnv(sipAddr, metricsAddr, dataDir string) []string {
	env := []string{
		"CRMSYNC_SIP_ADDR=" + sipAddr,
		"CRMSYNC_SIP_TRUSTED_CIDRS=127.0.0.0/8",
		"CRMSYNC_DATABASE_URL=" + w.dsn,
		"CRMSYNC_REDIS_URL=" + w.redisURL,
		"CRMSYNC_SECRET_KEY=" + secretKey,
		"CRMSYNC_METRICS_ADDR=" + metricsAddr,
		"CRMSYNC_DATA_DIR=" + dataDir,
		"CRMSYNC_LOG_LEVEL=warn",
		"CRMSYNC_OAUTH_AMOCRM_CLIENT_ID=" + amocrmtest.ClientID,
		"CRMSYNC_OAUTH_AMOCRM_CLIENT_SECRET=" + amocrmtest.ClientSecret,
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CRMSYNC_") {
			env = append(env, kv)
		}
	}
	return env
}

// decision is a route_decisions row the spot check reads.
type decision struct {
	caller, entityID, crmUserID, outcome, cache string
}

// decisions reads the router's recorded decisions for call ids.
func (w *world) decisions(ctx context.Context, ids []string) (map[string]decision, error) {
	db, err := sql.Open("pgx", w.dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT sip_call_id, caller, entity_id, crm_user_id, outcome, cache
		FROM route_decisions WHERE tenant_id = $1 AND sip_call_id = ANY($2)`, w.tenantID, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]decision{}
	for rows.Next() {
		var id string
		var d decision
		if err := rows.Scan(&id, &d.caller, &d.entityID, &d.crmUserID, &d.outcome, &d.cache); err != nil {
			return nil, err
		}
		out[id] = d
	}
	return out, rows.Err()
}

// disableRecords renames route_decisions away, so that the router's
// decision recorder fails each batch at once instead of writing it: the
// -no-records diagnostic, which shows what recording costs.
func (w *world) disableRecords(ctx context.Context) error {
	db, err := sql.Open("pgx", w.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "ALTER TABLE route_decisions RENAME TO route_decisions_off")
	return err
}

// close drops the schema, flushes and releases the Redis database and
// stops the CRM fake.
func (w *world) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if w.amo != nil {
		w.amo.Close()
	}
	if w.rdb != nil {
		_ = w.rdb.FlushDB(ctx).Err()
		_ = w.rdb.Close()
	}
	if w.claim != "" {
		u, _ := url.Parse(w.redisURL)
		u.Path = "/0"
		if opts, err := redis.ParseURL(u.String()); err == nil {
			c := redis.NewClient(opts)
			if v, _ := c.Get(ctx, w.claim).Int(); v == os.Getpid() {
				c.Del(ctx, w.claim)
			}
			_ = c.Close()
		}
	}
	if admin, err := sql.Open("pgx", w.pgBase); err == nil {
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+w.schema+" CASCADE"); err != nil {
			logf("drop schema %s: %v", w.schema, err)
		}
		_ = admin.Close()
	}
}

func randomHex() string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
