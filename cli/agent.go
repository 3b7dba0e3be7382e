package cli

import (
	"context"
	"encoding/json"
	"runtime"
	"slices"
	"syscall"

	"aead.dev/minisign"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/unyo-ops/unyo/bus"
	"github.com/unyo-ops/unyo/configs"
	"github.com/unyo-ops/unyo/jobnet"
	"github.com/unyo-ops/unyo/node"
	"github.com/unyo-ops/unyo/rollout"
	"github.com/unyo-ops/unyo/rotate"
)

const agentUsage = `usage: unyo agent --name NAME --nats URL --trust-key FILE [credentials] [flags]
       unyo agent nkey FILE               make an NKey seed for an agent (mode 0600), print its public key
       unyo agent trust-key --config FILE print the node's public task-signing key (for --trust-key)

Credentials (the node's nats.embedded.agents; never on the command line):
  --password-file FILE (or env UNYO_NATS_PASSWORD_FILE, or UNYO_NATS_PASSWORD), user --user (default --name)
  --nkey FILE          an NKey seed file (or env UNYO_NATS_NKEY)
  --creds FILE         a NATS credentials file (JWT and seed), for an external NATS in operator mode (or env UNYO_NATS_CREDS)`

func agentCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "agent", Short: "run jobs on this server for the job network", Long: agentUsage, ValidArgsFunction: noArgs}
	fs := cmd.Flags()
	name := fs.String("name", "", "agent name, as in run_on.agent and nats.embedded.agents[].name (required)")
	url := fs.String("nats", env.Getenv("UNYO_NATS"), "NATS server URL(s), comma-separated, nats:// or tls:// (env UNYO_NATS; required)")
	tags := fs.String("tag", "", "comma-separated tags, as in run_on.tag (each must be among the agent's nats.embedded.agents[].tags)")
	parallel := fs.Int("parallel", 64, "jobs run at the same time at most")
	user := fs.String("user", env.Getenv("UNYO_NATS_USER"), "NATS user name with --password-file (env UNYO_NATS_USER; default --name)")
	passFile := fs.String("password-file", env.Getenv("UNYO_NATS_PASSWORD_FILE"), "file holding the agent's NATS password (env UNYO_NATS_PASSWORD_FILE)")
	nkeyFile := fs.String("nkey", env.Getenv("UNYO_NATS_NKEY"), "file holding the agent's NKey seed (env UNYO_NATS_NKEY)")
	credsFile := fs.String("creds", env.Getenv("UNYO_NATS_CREDS"), "NATS credentials file (JWT and NKey seed) for an external NATS in operator mode (env UNYO_NATS_CREDS)")
	tlsCA := fs.String("tls-ca", env.Getenv("UNYO_NATS_TLS_CA"), "PEM CA bundle that signed the NATS server's certificate (env UNYO_NATS_TLS_CA)")
	tlsCert := fs.String("tls-cert", env.Getenv("UNYO_NATS_TLS_CERT"), "PEM client certificate, when the server asks for one (env UNYO_NATS_TLS_CERT)")
	tlsKey := fs.String("tls-key", env.Getenv("UNYO_NATS_TLS_KEY"), "PEM key of --tls-cert (env UNYO_NATS_TLS_KEY)")
	var trustFiles []string
	if v := env.Getenv("UNYO_TRUST_KEYS"); v != "" {
		trustFiles = splitList(v)
	}
	fs.Func("trust-key", "PEM file of a node's public task-signing key (<data_dir>/task-signing.pub); repeat for each node (env UNYO_TRUST_KEYS, comma-separated; required)",
		func(s string) error { trustFiles = append(trustFiles, s); return nil })
	metrics := fs.String("metrics-listen", "", "host:port serving /metrics (unyo_agent_tasks_run_total, unyo_agent_tasks_refused_total); empty: none")
	stateDir := fs.String("state-dir", env.Getenv("UNYO_AGENT_STATE_DIR"), "directory for the agent's state: the rollback copy of its binary during an update, its home after a move (env UNYO_AGENT_STATE_DIR; empty: no self-update, no move)")
	releaseKey := fs.String("release-key", env.Getenv("UNYO_RELEASE_KEY"), "minisign public key file release binaries must be signed with (env UNYO_RELEASE_KEY; empty: updates refused)")
	reportEvery := fs.Duration("report-interval", 10*time.Second, "how often the agent reports its version and update state and reads the cluster's directive")
	o := agentOptions{name: name, url: url, tags: tags, parallel: parallel, user: user, passFile: passFile, nkeyFile: nkeyFile,
		credsFile: credsFile, tlsCA: tlsCA, tlsCert: tlsCert, tlsKey: tlsKey, trustFiles: &trustFiles, metrics: metrics,
		stateDir: stateDir, releaseKey: releaseKey, reportEvery: reportEvery}
	cmd.RunE = run(func(ctx context.Context, pos []string) error { return runAgent(ctx, env, pos, o) })
	cmd.AddCommand(agentNKeyCmd(env), agentTrustKeyCmd(env))
	cmd.AddCommand(agentLifeCmds(env)...)
	return cmd
}

// agentOptions are the flags of unyo agent.
type agentOptions struct {
	name, url, tags                     *string
	parallel                            *int
	user, passFile, nkeyFile, credsFile *string
	tlsCA, tlsCert, tlsKey              *string
	trustFiles                          *[]string
	metrics                             *string
	stateDir, releaseKey                *string
	reportEvery                         *time.Duration
}

// runAgent runs jobs on a managed server: unyo agent --name NAME --nats URL.
func runAgent(ctx context.Context, env *Env, pos []string, o agentOptions) error {
	name, url, tags, parallel, user, passFile, nkeyFile, credsFile := o.name, o.url, o.tags, o.parallel, o.user, o.passFile, o.nkeyFile, o.credsFile
	tlsCA, tlsCert, tlsKey, trustFiles, metrics := o.tlsCA, o.tlsCert, o.tlsKey, *o.trustFiles, o.metrics
	switch {
	case len(pos) > 0:
		return usagef("unexpected argument %q\n%s", pos[0], agentUsage)
	case *name == "":
		return usagef("--name: required\n%s", agentUsage)
	case !bus.AgentNameRE.MatchString(*name):
		return usagef("--name %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_' (starting with a letter or digit)", *name)
	case *url == "":
		return usagef("--nats: required")
	case *parallel < 1:
		return usagef("--parallel: want at least 1")
	case len(trustFiles) == 0:
		return usagef("--trust-key: required: the public key file of each node that may dispatch tasks (<data_dir>/task-signing.pub); without one every task is refused")
	case countSet(*passFile, *nkeyFile, *credsFile) > 1:
		return usagef("--password-file, --nkey and --creds: give one")
	case (*tlsCert == "") != (*tlsKey == ""):
		return usagef("--tls-cert and --tls-key: give both or neither")
	}
	tagList := splitList(*tags)
	for _, t := range tagList {
		if !bus.AgentNameRE.MatchString(t) {
			return usagef("--tag %q: want 1 to 63 of A-Z, a-z, 0-9, '-', '_'", t)
		}
	}
	keys, err := jobnet.ReadTrustedKeys(trustFiles...)
	if err != nil {
		return fmt.Errorf("--trust-key: %w", err)
	}
	log := slog.New(slog.NewTextHandler(env.Stderr, nil)).With("agent", *name)
	natsURL := *url
	if *o.stateDir != "" {
		if err := os.MkdirAll(*o.stateDir, 0o700); err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
		home, err := rollout.ReadHome(*o.stateDir)
		if err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
		if home != nil {
			// Moved: the new home replaces --nats and --trust-key.
			if keys, err = jobnet.ParsePublicKeys([]byte(home.TrustKeys)); err != nil {
				return fmt.Errorf("--state-dir: %s: %w", rollout.HomeFile, err)
			}
			natsURL = home.NATS
			log.Info("home from the state directory (the agent moved)", "nats", redactNATSURL(natsURL))
		}
	}
	var relKey *minisign.PublicKey
	if *o.releaseKey != "" {
		k, err := rollout.ReadPublicKey(*o.releaseKey)
		if err != nil {
			return fmt.Errorf("--release-key: %w", err)
		}
		relKey = &k
	}
	opts := []nats.Option{nats.Name("unyo-agent-" + *name), nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond), nats.Timeout(5 * time.Second),
		// Replies (the fetched tasks among them) come to an inbox only this
		// agent may subscribe to (bus.AgentPermissions).
		nats.CustomInboxPrefix(bus.AgentInboxPrefix(*name)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			log.Error("nats", "err", err)
		})}
	auth, err := agentAuth(env, *name, *user, *passFile, *nkeyFile, *credsFile)
	if err != nil {
		return err
	}
	opts = append(opts, auth...)
	if *tlsCA != "" || *tlsCert != "" {
		tc, err := agentTLS(*tlsCA, *tlsCert, *tlsKey)
		if err != nil {
			return err
		}
		opts = append(opts, nats.Secure(tc))
	}
	nc, err := nats.Connect(natsURL, opts...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redactNATSURL(natsURL), err)
	}
	defer nc.Close()
	reg := prometheus.NewRegistry()
	if *metrics != "" {
		ln, err := net.Listen("tcp", *metrics)
		if err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		log.Info("metrics", "listen", ln.Addr().String())
	}
	trust := jobnet.NewVerifier(keys...)
	up := &rollout.Updater{Name: *name, NC: nc, Trust: trust, Version: node.Version, Platform: runtime.GOOS + "/" + runtime.GOARCH,
		ReleaseKey: relKey, StateDir: *o.stateDir, Every: *o.reportEvery, Logger: log,
		Move: func(ctx context.Context, m rollout.MoveOrder) error {
			return confirmNewHome(ctx, *name, m, opts)
		}}
	up.Init(ctx, 3*time.Second)
	a := &jobnet.Agent{Name: *name, Tags: tagList, NC: nc, Parallel: *parallel, Logger: log,
		Trust: trust, Registerer: reg, Gate: up.Gate, Exec: rotate.AgentExec(nc, *name)}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	moved := make(chan error, 1)
	go func() {
		err := up.Run(actx)
		moved <- err
		if errors.Is(err, rollout.ErrMoved) {
			cancel()
		}
	}()
	if err := a.Run(actx); err != nil {
		return err
	}
	cancel()
	if err := <-moved; errors.Is(err, rollout.ErrMoved) && ctx.Err() == nil {
		// Start again on the new home (read from the state directory).
		nc.Close()
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		log.Info("restarting on the new home")
		return syscall.Exec(exe, os.Args, os.Environ())
	}
	return nil
}

// confirmNewHome connects to the new cluster with the agent's own
// credentials and asks it for a directive, which must be signed by one of
// the keys the move order named: only then does the agent leave.
func confirmNewHome(ctx context.Context, name string, m rollout.MoveOrder, opts []nats.Option) error {
	keys, err := jobnet.ParsePublicKeys([]byte(m.TrustKeys))
	if err != nil {
		return fmt.Errorf("the new home's keys: %w", err)
	}
	nc, err := nats.Connect(m.To, append(slices.Clone(opts), nats.MaxReconnects(0))...)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redactNATSURL(m.To), err)
	}
	defer nc.Close()
	b, _ := json.Marshal(rollout.Report{Agent: name, Version: node.Version, Platform: runtime.GOOS + "/" + runtime.GOARCH, State: rollout.ReportIdle})
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msg, err := nc.RequestWithContext(rctx, rollout.ReportSubject+"."+name, b)
	if err != nil {
		return fmt.Errorf("the new home %s did not answer: %w", redactNATSURL(m.To), err)
	}
	if _, err := rollout.OpenDirective(jobnet.NewVerifier(keys...), name, msg.Data, time.Now()); err != nil {
		return fmt.Errorf("the new home's answer: %w", err)
	}
	return nil
}

// agentAuth are the connection's credentials: a password (from a file or
// the environment) for user (default name), or an NKey seed file; none
// when neither is given (the server then refuses the agent unless it
// requires no authentication, as an external NATS may).
func agentAuth(env *Env, name, user, passFile, nkeyFile, credsFile string) ([]nats.Option, error) {
	if user == "" {
		user = name
	}
	switch {
	case credsFile != "":
		if _, err := os.Stat(credsFile); err != nil {
			return nil, fmt.Errorf("--creds: %w", err)
		}
		return []nats.Option{nats.UserCredentials(credsFile)}, nil
	case nkeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(nkeyFile)
		if err != nil {
			return nil, fmt.Errorf("--nkey %s: %w", nkeyFile, err)
		}
		return []nats.Option{opt}, nil
	case passFile != "":
		pass, err := readSecretFile(passFile)
		if err != nil {
			return nil, fmt.Errorf("--password-file: %w", err)
		}
		return []nats.Option{nats.UserInfo(user, pass)}, nil
	case env.Getenv("UNYO_NATS_PASSWORD") != "":
		return []nats.Option{nats.UserInfo(user, env.Getenv("UNYO_NATS_PASSWORD"))}, nil
	}
	return nil, nil
}

// readSecretFile reads a one-line secret (a trailing newline is dropped).
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > 4096 {
		return "", fmt.Errorf("%s: longer than 4096 bytes", path)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return s, nil
}

// agentTLS is the agent's TLS config: the CA that verifies the server,
// and optionally a client certificate.
func agentTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", caFile)
		}
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert, --tls-key: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// redactNATSURL hides passwords in a NATS URL list for messages.
func redactNATSURL(s string) string { return configs.URLs(s).String() }

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

func splitList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func agentNKeyCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "nkey FILE", Short: "make an NKey seed for an agent (mode 0600), print its public key"}
	account := cmd.Flags().Bool("account", false, "make an account NKey instead: the issuer of an external NATS's auth callout (nats.auth_callout.issuer_seed)")
	cmd.RunE = run(func(_ context.Context, pos []string) error { return runAgentNKey(env, pos, *account) })
	return cmd
}

func agentTrustKeyCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "trust-key", Short: "print the node's public task-signing key (for --trust-key)", ValidArgsFunction: noArgs}
	path := cmd.Flags().String("config", "", "the node's configuration file (required; its nats.task_signing.key_file)")
	cmd.RunE = run(func(_ context.Context, pos []string) error { return runAgentTrustKey(env, pos, *path) })
	return cmd
}

// runAgentNKey makes an NKey seed file for an agent and prints the public
// key for nats.embedded.agents[].nkey; with account, an account NKey for
// nats.auth_callout.issuer_seed, its public key for the server's
// auth_callout issuer.
func runAgentNKey(env *Env, pos []string, account bool) error {
	if len(pos) != 1 {
		return usagef("usage: unyo agent nkey FILE")
	}
	create := nkeys.CreateUser
	if account {
		create = nkeys.CreateAccount
	}
	kp, err := create()
	if err != nil {
		return err
	}
	seed, err := kp.Seed()
	if err != nil {
		return err
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return err
	}
	f, err := os.OpenFile(pos[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("%s: exists; not overwritten", pos[0])
	} else if err != nil {
		return err
	}
	_, werr := f.Write(append(seed, '\n'))
	if err := errors.Join(werr, f.Close()); err != nil {
		_ = os.Remove(pos[0])
		return err
	}
	fmt.Fprintln(env.Stdout, pub)
	return nil
}

// runAgentTrustKey prints the node's public task-signing key, the file
// agents are given with --trust-key.
func runAgentTrustKey(env *Env, pos []string, path string) error {
	if len(pos) > 0 || path == "" {
		return usagef("usage: unyo agent trust-key --config FILE")
	}
	cfg, err := configs.Load(path)
	if err != nil {
		return err
	}
	pub := jobnet.PublicKeyPath(cfg.NATS.TaskSigning.KeyFile)
	data, err := os.ReadFile(pub)
	if errors.Is(err, iofs.ErrNotExist) {
		return fmt.Errorf("%s: no public key yet: the node creates it on its first start", pub)
	} else if err != nil {
		return err
	}
	if _, err := jobnet.ParsePublicKeys(data); err != nil {
		return fmt.Errorf("%s: %w", pub, err)
	}
	_, err = env.Stdout.Write(data)
	return err
}
