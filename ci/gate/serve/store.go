package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Phase is where an analysis stands, as the service reports it.
type Phase string

// The phases. Only pass lets a controller promote; lost and error never
// turn into a pass.
const (
	PhaseRunning      Phase = "running"
	PhasePass         Phase = "pass"
	PhaseFail         Phase = "fail"
	PhaseInconclusive Phase = "inconclusive"
	// PhaseLost: gate serve stopped or restarted while the analysis ran;
	// the evidence it gathered is gone.
	PhaseLost Phase = "lost"
	// PhaseError: the analysis could not run as asked (for example a
	// selector Prometheus refuses).
	PhaseError Phase = "error"
)

// Phases lists every phase, for metrics.
var Phases = []Phase{PhaseRunning, PhasePass, PhaseFail, PhaseInconclusive, PhaseLost, PhaseError}

// Key identifies the canary an analysis judges: one controller, one
// workload, one revision against its baseline.
type Key struct {
	Controller string `json:"controller"` // argo or flagger
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	Revision   string `json:"revision"` // canary..stable hash (argo), checksum (flagger)
}

func (k Key) String() string {
	return k.Controller + "/" + k.Namespace + "/" + k.Name + "/" + k.Revision
}

// ID is the analysis' stable identifier (and its file name in the state
// folder): a hash of the key, so it is the same after a restart.
func (k Key) ID() string {
	sum := sha256.Sum256([]byte(k.String()))
	return hex.EncodeToString(sum[:10])
}

// Analysis is one analysis as stored and shown.
type Analysis struct {
	ID       string          `json:"id"`
	Key      Key             `json:"key"`
	Spec     Spec            `json:"spec"`
	Phase    Phase           `json:"phase"`
	Reason   string          `json:"reason"`
	Started  time.Time       `json:"started"`
	Finished *time.Time      `json:"finished,omitempty"`
	Report   json.RawMessage `json:"report,omitempty"`
	// Progress holds the last lines the runner wrote (one per poll).
	Progress []string `json:"progress,omitempty"`
	// LastSeen is when a controller last asked (not persisted).
	LastSeen time.Time `json:"-"`
}

// finished reports whether the analysis has ended.
func (a Analysis) finished() bool { return a.Phase != PhaseRunning }

// ErrBusy: too many analyses run at once; the caller should retry later.
var ErrBusy = errors.New("too many analyses running")

// StoreOptions configure OpenStore.
type StoreOptions struct {
	// Dir holds one JSON file per analysis; it survives restarts.
	Dir    string
	Runner Runner
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ForgetAfter: a finished analysis no controller asked about for this
	// long is forgotten, so a later request for the same canary starts a
	// fresh one. It must exceed the controllers' poll interval.
	ForgetAfter time.Duration
	// MaxRunning bounds the analyses running at once.
	MaxRunning int
	Logger     *slog.Logger
}

// Store holds the analyses, runs them and keeps them on disk. Every
// change of phase is written (file, fsync, rename) before it is reported
// as final, and on open every analysis the file says is still running
// becomes lost: a restart never reports a pass it did not see.
type Store struct {
	opts   StoreOptions
	log    *slog.Logger
	ctx    context.Context // ends at Close: running analyses are lost then
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	items    map[string]*entry
	nextRun  int
	closed   bool
	onFinish func(a Analysis) // metrics hook, set by NewServer
}

type entry struct {
	a      Analysis
	cancel context.CancelFunc // of the running analysis
	run    int                // which start this is (a deleted and restarted key gets a new one)
	lines  *lineRing
}

// OpenStore reads the state folder (creating it) and returns the store.
// Analyses recorded as running are marked lost and written back.
func OpenStore(o StoreOptions) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("state folder: required (analyses must survive a restart or be reported lost)")
	}
	if o.Runner == nil {
		return nil, errors.New("store: a runner is required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ForgetAfter <= 0 {
		return nil, fmt.Errorf("forget-after %s: must be positive", o.ForgetAfter)
	}
	if o.MaxRunning < 1 {
		return nil, fmt.Errorf("max-analyses %d: must be at least 1", o.MaxRunning)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("state folder %s: %w", o.Dir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{opts: o, log: o.Logger.With("component", "gate-serve-store"), ctx: ctx, cancel: cancel, items: map[string]*entry{}}
	if err := s.load(); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

func (s *Store) now() time.Time { return s.opts.Now() }

// load reads every analysis file; running ones become lost.
func (s *Store) load() error {
	files, err := filepath.Glob(filepath.Join(s.opts.Dir, "*.json"))
	if err != nil {
		return fmt.Errorf("list state folder: %w", err)
	}
	now := s.now()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read state %s: %w", f, err)
		}
		var a Analysis
		if err := json.Unmarshal(b, &a); err != nil || a.ID == "" || a.ID != a.Key.ID() {
			// A torn or foreign file: keep it for a human, never guess a
			// verdict from it.
			s.log.Warn("state file unreadable, moved aside", "file", f, "err", err)
			if err := os.Rename(f, f+".unreadable"); err != nil {
				return fmt.Errorf("move aside unreadable state %s: %w", f, err)
			}
			continue
		}
		if a.Phase == PhaseRunning {
			a.Phase = PhaseLost
			a.Reason = fmt.Sprintf("gate serve restarted at %s while this analysis ran (started %s); the evidence it gathered is gone, so it is neither a pass nor a fail: run it again to decide",
				now.UTC().Format(time.RFC3339), a.Started.UTC().Format(time.RFC3339))
			t := now
			a.Finished = &t
			if err := s.write(a); err != nil {
				return err
			}
		}
		a.LastSeen = now
		s.items[a.ID] = &entry{a: a, lines: newLineRing(a.Progress)}
	}
	return nil
}

// write stores one analysis durably: temp file, fsync, rename, fsync of
// the folder.
func (s *Store) write(a Analysis) error {
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return fmt.Errorf("encode analysis %s: %w", a.ID, err)
	}
	final := filepath.Join(s.opts.Dir, a.ID+".json")
	tmp, err := os.CreateTemp(s.opts.Dir, a.ID+".*.tmp")
	if err != nil {
		return fmt.Errorf("write state of %s: %w", a.ID, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write state of %s: %w", a.ID, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync state of %s: %w", a.ID, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close state of %s: %w", a.ID, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("store state of %s: %w", a.ID, err)
	}
	if d, err := os.Open(s.opts.Dir); err == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return fmt.Errorf("sync state folder: %w", err)
		}
	}
	return nil
}

func (s *Store) remove(id string) {
	if err := os.Remove(filepath.Join(s.opts.Dir, id+".json")); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.log.Warn("remove state file", "id", id, "err", err)
	}
}

// Ensure returns the analysis of key, starting it with spec when there is
// none. An existing analysis keeps its own spec. It counts as a request
// for the analysis (see StoreOptions.ForgetAfter).
func (s *Store) Ensure(key Key, spec Spec) (Analysis, error) {
	id := key.ID()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Analysis{}, errors.New("gate serve is shutting down")
	}
	if e, ok := s.items[id]; ok {
		e.a.LastSeen = s.now()
		return e.snapshot(), nil
	}
	running := 0
	for _, e := range s.items {
		if !e.a.finished() {
			running++
		}
	}
	if running >= s.opts.MaxRunning {
		return Analysis{}, fmt.Errorf("%w (%d, the limit set by --max-analyses)", ErrBusy, running)
	}
	now := s.now()
	a := Analysis{ID: id, Key: key, Spec: spec, Phase: PhaseRunning, Reason: "analysis running", Started: now, LastSeen: now}
	if err := s.write(a); err != nil {
		return Analysis{}, err
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.nextRun++
	e := &entry{a: a, cancel: cancel, run: s.nextRun, lines: newLineRing(nil)}
	s.items[id] = e
	s.wg.Add(1)
	go s.run(ctx, e, e.run, spec)
	s.log.Info("analysis started", "id", id, "key", key.String(), "canary", spec.Canary, "baseline", spec.Baseline)
	return e.snapshot(), nil
}

func (e *entry) snapshot() Analysis {
	a := e.a
	a.Progress = e.lines.lines()
	return a
}

// run runs one analysis and records its end.
func (s *Store) run(ctx context.Context, e *entry, run int, spec Spec) {
	defer s.wg.Done()
	res, err := safeRun(ctx, s.opts.Runner, spec, e.lines)
	s.finish(ctx, e.a.ID, run, res, err)
}

// safeRun keeps a panicking runner from taking the service down.
func safeRun(ctx context.Context, r Runner, spec Spec, progress *lineRing) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error in the analysis: %v", p)
		}
	}()
	return r.Run(ctx, spec, progress)
}

func (s *Store) finish(ctx context.Context, id string, run int, res Result, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[id]
	if !ok || e.run != run {
		return // deleted while it ran
	}
	a := e.a
	now := s.now()
	a.Finished = &now
	a.Progress = e.lines.lines()
	switch {
	case s.ctx.Err() != nil:
		a.Phase = PhaseLost
		a.Reason = "gate serve stopped while this analysis ran; the evidence it gathered is gone, so it is neither a pass nor a fail: run it again to decide"
	case ctx.Err() != nil:
		return // deleted: nothing to record
	case err != nil:
		a.Phase, a.Reason = PhaseError, "the analysis could not run: "+err.Error()
	default:
		switch res.Outcome {
		case Pass, Fail, Inconclusive:
			a.Phase, a.Reason, a.Report = Phase(res.Outcome), res.Reason, res.Report
		default:
			a.Phase, a.Reason = PhaseError, fmt.Sprintf("the analysis ended with an unknown outcome %q", res.Outcome)
		}
	}
	if err := s.write(a); err != nil {
		// The file still says running, so a restart reports lost.
		s.log.Error("record analysis end", "id", id, "err", err)
	}
	e.a, e.cancel = a, nil
	s.log.Info("analysis finished", "id", id, "key", a.Key.String(), "phase", a.Phase, "reason", a.Reason)
	if s.onFinish != nil {
		s.onFinish(a)
	}
}

// Get returns one analysis.
func (s *Store) Get(id string) (Analysis, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[id]
	if !ok {
		return Analysis{}, false
	}
	return e.snapshot(), true
}

// Find returns the analysis of key without counting as a request.
func (s *Store) Find(key Key) (Analysis, bool) { return s.Get(key.ID()) }

// List returns every analysis, newest first.
func (s *Store) List() []Analysis {
	s.mu.Lock()
	out := make([]Analysis, 0, len(s.items))
	for _, e := range s.items {
		a := e.snapshot()
		a.Progress = nil
		out = append(out, a)
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Started.After(out[j].Started) })
	return out
}

// Delete forgets an analysis, stopping it if it runs; the next request
// for its canary starts a fresh one.
func (s *Store) Delete(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.items[id]
	if !ok {
		return false
	}
	if e.cancel != nil {
		e.cancel()
	}
	delete(s.items, id)
	s.remove(id)
	s.log.Info("analysis forgotten", "id", id, "key", e.a.Key.String())
	return true
}

// Sweep forgets finished analyses nobody asked about for ForgetAfter.
func (s *Store) Sweep() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := s.now().Add(-s.opts.ForgetAfter)
	n := 0
	for id, e := range s.items {
		if e.a.finished() && e.a.LastSeen.Before(cut) {
			delete(s.items, id)
			s.remove(id)
			n++
		}
	}
	return n
}

// SweepEvery runs Sweep on a ticker until ctx ends.
func (s *Store) SweepEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n := s.Sweep(); n > 0 {
				s.log.Info("forgot idle finished analyses", "count", n)
			}
		}
	}
}

// Counts returns how many analyses are in each phase.
func (s *Store) Counts() map[Phase]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := map[Phase]int{}
	for _, e := range s.items {
		c[e.a.Phase]++
	}
	return c
}

// Close stops every running analysis and records it as lost.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

// lineRing keeps the last lines written to it (the runner's progress).
type lineRing struct {
	mu      sync.Mutex
	buf     []string
	partial bytes.Buffer
}

const progressLines = 20

func newLineRing(initial []string) *lineRing { return &lineRing{buf: initial} }

func (r *lineRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.partial.Write(p)
	for {
		line, err := r.partial.ReadString('\n')
		if err != nil { // no newline yet: keep the rest
			r.partial.Reset()
			r.partial.WriteString(line)
			break
		}
		r.buf = append(r.buf, strings.TrimRight(line, "\n"))
		if len(r.buf) > progressLines {
			r.buf = r.buf[len(r.buf)-progressLines:]
		}
	}
	return len(p), nil
}

func (r *lineRing) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.buf...)
}
