package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

type logBuilder struct {
	t     *testing.T
	index uint64
}

func (b *logBuilder) cmd(typ string, payload any, at time.Time) *raft.Log {
	b.t.Helper()
	c, err := NewCommand(typ, payload)
	if err != nil {
		b.t.Fatal(err)
	}
	c.At = at
	data, err := encodeCommand(c)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.raw(data)
}

func (b *logBuilder) raw(data []byte) *raft.Log {
	b.index++
	return &raft.Log{Index: b.index, Term: 1, Type: raft.LogCommand, Data: data}
}

func applyErr(f *FSM, l *raft.Log) error {
	return f.Apply(l).(*applyResult).err
}

func configSet(v int64, data string) ConfigSet {
	return ConfigSet{Version: v, Data: []byte(data), Hash: ConfigHash([]byte(data)), By: "n1"}
}

// sampleLog builds a log that exercises every command type.
func sampleLog(t *testing.T) []*raft.Log {
	b := &logBuilder{t: t}
	return []*raft.Log{
		b.cmd(CmdConfigSet, configSet(1, "a: 1\n"), t0),
		b.cmd(CmdMemberUpsert, Member{ID: "n1", RaftAddr: "10.0.0.1:7000", Site: "east", APIAddr: "10.0.0.1:8080"}, t0),
		b.cmd(CmdMemberUpsert, Member{ID: "n2", RaftAddr: "10.0.0.2:7000", Site: "west"}, t0.Add(time.Second)),
		b.cmd(CmdMemberEnsure, Member{ID: "n3", RaftAddr: "10.0.0.3:7000"}, t0.Add(2*time.Second)),
		b.cmd(CmdTargetsSet, TargetsSet{Targets: []Target{{Name: "db1", Site: "east"}, {Name: "web1", Site: "west"}, {Name: "dns1"}}}, t0),
		b.cmd(CmdAssignUpdate, AssignUpdate{Moves: []Move{{Target: "db1", Node: "n1"}, {Target: "web1", Node: "n2"}, {Target: "dns1", Node: "n3"}}}, t0),
		b.cmd(CmdConfigSet, configSet(2, "a: 2\n"), t0.Add(time.Minute)),
		b.cmd(CmdMemberCred, MemberCred{ID: "n1", Hash: HashCredential("unyom_a")}, t0),
		b.cmd(CmdTokenCreate, JoinToken{ID: "t1", Hash: HashCredential("unyoj_a"), Expires: t0.Add(time.Hour)}, t0),
		b.cmd(CmdTokenCreate, JoinToken{ID: "t2", Hash: HashCredential("unyoj_b"), Expires: t0.Add(2 * time.Hour)}, t0),
		b.cmd(CmdTokenRevoke, TokenRevoke{ID: "t2"}, t0.Add(time.Minute)),
	}
}

func TestFSMApply(t *testing.T) {
	f := NewFSM()
	for _, l := range sampleLog(t) {
		if err := applyErr(f, l); err != nil {
			t.Fatalf("apply %d: %v", l.Index, err)
		}
	}
	st := f.State()
	if st.Config.Version != 2 || string(st.Config.Data) != "a: 2\n" || !st.Config.AppliedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("config = %+v", st.Config)
	}
	if got := f.assignedTo("n2"); !reflect.DeepEqual(got, []string{"web1"}) {
		t.Errorf("assignedTo(n2) = %v", got)
	}
	if m := st.Members["n3"]; m.RaftAddr != "10.0.0.3:7000" || !m.JoinedAt.Equal(t0.Add(2*time.Second)) {
		t.Errorf("n3 = %+v", m)
	}
	if f.AppliedIndex() != 11 {
		t.Errorf("applied index = %d", f.AppliedIndex())
	}

	b := &logBuilder{t: t, index: 11}
	// A re-join keeps the original join time; ensure does not clobber.
	mustOK(t, f, b.cmd(CmdMemberUpsert, Member{ID: "n2", RaftAddr: "10.0.0.2:7001", Site: "west"}, t0.Add(time.Hour)))
	mustOK(t, f, b.cmd(CmdMemberEnsure, Member{ID: "n2", RaftAddr: "10.0.0.2:7002"}, t0.Add(time.Hour)))
	if m := f.State().Members["n2"]; m.Site != "west" || m.RaftAddr != "10.0.0.2:7002" || !m.JoinedAt.Equal(t0.Add(time.Second)) {
		t.Errorf("n2 after rejoin = %+v", m)
	}
	// A stale move (wrong From) and a move to a non-member are skipped.
	mustOK(t, f, b.cmd(CmdAssignUpdate, AssignUpdate{Moves: []Move{{Target: "db1", From: "n9", Node: "n2"}, {Target: "web1", From: "n2", Node: "n9"}}}, t0))
	if a := f.assignments(); a["db1"] != "n1" || a["web1"] != "n2" {
		t.Errorf("assignments after stale moves = %v", a)
	}
	// Removing a member unassigns its targets.
	mustOK(t, f, b.cmd(CmdMemberRemove, MemberRemove{ID: "n1"}, t0))
	if a := f.assignments(); a["db1"] != "" {
		t.Errorf("db1 still on removed n1: %v", a)
	}
	// Targets keep their owner across a targets.set; dropped ones go.
	mustOK(t, f, b.cmd(CmdTargetsSet, TargetsSet{Targets: []Target{{Name: "web1", Site: "west"}, {Name: "new1"}}}, t0))
	if a := f.assignments(); !reflect.DeepEqual(a, map[string]string{"web1": "n2", "new1": ""}) {
		t.Errorf("assignments after targets.set = %v", a)
	}
}

func mustOK(t *testing.T, f *FSM, l *raft.Log) {
	t.Helper()
	if err := applyErr(f, l); err != nil {
		t.Fatalf("apply %d: %v", l.Index, err)
	}
}

func TestFSMRejects(t *testing.T) {
	b := &logBuilder{t: t}
	f := NewFSM()
	mustOK(t, f, b.cmd(CmdConfigSet, configSet(5, "x"), t0))
	before := f.State()

	badHash := configSet(6, "y")
	badHash.Hash = ConfigHash([]byte("z"))
	future, _ := json.Marshal(envelope{V: CommandVersion + 1, Type: CmdConfigSet, Payload: json.RawMessage(`{}`)})
	tests := []struct {
		name string
		log  *raft.Log
		want error
	}{
		{"unknown type", b.cmd("jobnet.fire", map[string]string{"x": "y"}, t0), ErrUnknownCommand},
		{"not json", b.raw([]byte("\x00\x01garbage")), ErrBadCommand},
		{"empty", b.raw(nil), ErrBadCommand},
		{"newer envelope", b.raw(future), ErrUnsupportedVersion},
		{"stale config", b.cmd(CmdConfigSet, configSet(4, "old"), t0), ErrStaleConfig},
		{"same version other data", b.cmd(CmdConfigSet, configSet(5, "other"), t0), ErrStaleConfig},
		{"hash mismatch", b.cmd(CmdConfigSet, badHash, t0), ErrBadCommand},
		{"payload wrong shape", b.raw([]byte(`{"v":1,"type":"member.upsert","payload":[1,2]}`)), ErrBadCommand},
		{"member without addr", b.cmd(CmdMemberUpsert, Member{ID: "n1"}, t0), ErrBadCommand},
		{"duplicate target", b.cmd(CmdTargetsSet, TargetsSet{Targets: []Target{{Name: "a"}, {Name: "a"}}}, t0), ErrBadCommand},
		{"empty target name", b.cmd(CmdTargetsSet, TargetsSet{Targets: []Target{{Name: ""}}}, t0), ErrBadCommand},
		{"no payload", b.raw([]byte(`{"v":1,"type":"assign.update"}`)), ErrBadCommand},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := applyErr(f, tc.log); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if after := f.State(); !reflect.DeepEqual(before, after) {
		t.Errorf("rejected commands changed the state:\nbefore %+v\nafter  %+v", before, after)
	}
	// The same config again is an idempotent success.
	if err := applyErr(f, b.cmd(CmdConfigSet, configSet(5, "x"), t0.Add(time.Hour))); err != nil {
		t.Errorf("re-applying the active config: %v", err)
	}
}

// memSink is a raft.SnapshotSink over a buffer.
type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { return nil }

func TestFSMSnapshotRestore(t *testing.T) {
	f := NewFSM()
	for _, l := range sampleLog(t) {
		mustOK(t, f, l)
	}
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want, wantIndex := f.State(), f.AppliedIndex()
	if wantIndex == 0 {
		t.Fatal("the sample log applied nothing")
	}
	// Applying after Snapshot must not change what the snapshot persists.
	b := &logBuilder{t: t, index: 100}
	mustOK(t, f, b.cmd(CmdMemberRemove, MemberRemove{ID: "n1"}, t0))
	mustOK(t, f, b.cmd(CmdConfigSet, configSet(9, "later"), t0))

	var sink memSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	g := NewFSM()
	mustOK(t, g, (&logBuilder{t: t}).cmd(CmdTargetsSet, TargetsSet{Targets: []Target{{Name: "junk"}}}, t0))
	changed := g.Changed()
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Error("Restore did not signal a change")
	}
	// The restored FSM has applied what the snapshot holds: a member that
	// catches up by a snapshot alone reports the snapshot's index, not
	// the index it had before (here the junk entry's).
	if got := g.AppliedIndex(); got != wantIndex {
		t.Errorf("restored applied index %d, want the snapshot's %d", got, wantIndex)
	}
	if got := g.State(); !reflect.DeepEqual(got, want) {
		t.Errorf("restored state differs:\ngot  %+v\nwant %+v", got, want)
	}

	t.Run("bad format", func(t *testing.T) {
		err := NewFSM().Restore(io.NopCloser(bytes.NewReader([]byte(`{"format":99,"state":{}}`))))
		if err == nil {
			t.Fatal("restored a snapshot of unknown format")
		}
	})
}

// TestFSMDeterministic: two FSMs fed the same log end in byte-identical
// snapshots.
func TestFSMDeterministic(t *testing.T) {
	var out [2][]byte
	for i := range out {
		f := NewFSM()
		for _, l := range sampleLog(t) {
			f.Apply(l)
		}
		snap, _ := f.Snapshot()
		var sink memSink
		if err := snap.Persist(&sink); err != nil {
			t.Fatal(err)
		}
		out[i] = sink.Bytes()
	}
	if !bytes.Equal(out[0], out[1]) {
		t.Errorf("snapshots differ:\n%s\n%s", out[0], out[1])
	}
}
