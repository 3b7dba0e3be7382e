package authtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unyo-ops/unyo/auth"
)

// T0 is the base time of the suite: not UTC and not a whole microsecond,
// so a store that keeps nanoseconds or the zone is caught.
var T0 = time.Date(2026, 5, 1, 9, 0, 0, 123456789, time.FixedZone("JST", 9*3600))

// us is t as a store returns it: to the microsecond, UTC.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Run runs the conformance suite. open must return a new, empty store.
func Run(t *testing.T, open func(t *testing.T) auth.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s auth.Store)
	}{
		{"UserRoundTrip", testUserRoundTrip},
		{"CreateUserExists", testCreateUserExists},
		{"UpdateUser", testUpdateUser},
		{"NotFound", testNotFound},
		{"TokenRoundTrip", testTokenRoundTrip},
		{"CreateTokenExists", testCreateTokenExists},
		{"RevokeOnce", testRevokeOnce},
		{"TouchNeverBack", testTouchNeverBack},
		{"AuditAppendChain", testAuditAppendChain},
		{"AuditZeroAt", testAuditZeroAt},
		{"AuditFilter", testAuditFilter},
		{"AuditConcurrent", testAuditConcurrent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// Hash returns the hex SHA-256 of secret, as Token.Hash holds it.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func user(name string, role auth.Role) auth.User {
	return auth.User{
		Name:         name,
		Role:         role,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		Source:       "local",
		Created:      T0,
		Updated:      T0,
	}
}

func token(id, owner string) auth.Token {
	return auth.Token{
		ID:      id,
		Name:    "ci " + id,
		Kind:    auth.TokenAPI,
		Owner:   owner,
		Role:    auth.RoleOperator,
		Hash:    Hash("secret-of-" + id),
		Created: T0,
		Expires: T0.Add(30 * 24 * time.Hour),
	}
}

func sameTime(a, b time.Time) bool { return us(a).Equal(us(b)) && a.IsZero() == b.IsZero() }

func checkUser(t *testing.T, what string, got, want auth.User) {
	t.Helper()
	if got.Name != want.Name || got.Role != want.Role || got.PasswordHash != want.PasswordHash ||
		got.Disabled != want.Disabled || got.Source != want.Source ||
		!sameTime(got.Created, want.Created) || !sameTime(got.Updated, want.Updated) {
		t.Errorf("%s:\n got %+v\nwant %+v (times to the microsecond)", what, got, want)
	}
}

func checkToken(t *testing.T, what string, got, want auth.Token) {
	t.Helper()
	if got.ID != want.ID || got.Name != want.Name || got.Kind != want.Kind || got.Owner != want.Owner ||
		got.Role != want.Role || got.Hash != want.Hash || got.LastFrom != want.LastFrom ||
		!sameTime(got.Created, want.Created) || !sameTime(got.Expires, want.Expires) ||
		!sameTime(got.LastUsed, want.LastUsed) || !sameTime(got.Revoked, want.Revoked) {
		t.Errorf("%s:\n got %+v\nwant %+v (times to the microsecond)", what, got, want)
	}
}

func checkEntry(t *testing.T, what string, got, want auth.AuditEntry) {
	t.Helper()
	if got != want || got.At.Location() != time.UTC {
		t.Errorf("%s:\n got %+v\nwant %+v (At in UTC)", what, got, want)
	}
}

func testUserRoundTrip(t *testing.T, s auth.Store) {
	ctx := t.Context()
	if us, err := s.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("ListUsers of an empty store = %v, %v; want none", us, err)
	}
	a := user("alice", auth.RoleAdmin)
	b := user("bob", auth.RoleViewer)
	b.PasswordHash = "" // token or SSO only
	b.Disabled = true
	b.Source = "https://idp.example.com"
	b.Created, b.Updated = T0.Add(time.Nanosecond), T0.Add(time.Hour+999*time.Nanosecond)
	for _, u := range []auth.User{b, a} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatalf("CreateUser(%s): %v", u.Name, err)
		}
	}
	for _, u := range []auth.User{a, b} {
		got, err := s.GetUser(ctx, u.Name)
		if err != nil {
			t.Fatalf("GetUser(%s): %v", u.Name, err)
		}
		checkUser(t, "GetUser("+u.Name+")", got, u)
	}
	all, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("ListUsers = %+v, want alice and bob", all)
	}
	slices.SortFunc(all, func(x, y auth.User) int { return compare(x.Name, y.Name) })
	checkUser(t, "ListUsers[alice]", all[0], a)
	checkUser(t, "ListUsers[bob]", all[1], b)
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testCreateUserExists(t *testing.T, s auth.Store) {
	ctx := t.Context()
	a := user("alice", auth.RoleOperator)
	if err := s.CreateUser(ctx, a); err != nil {
		t.Fatal(err)
	}
	again := user("alice", auth.RoleAdmin)
	again.PasswordHash = "other"
	again.Created = T0.Add(time.Hour)
	err := s.CreateUser(ctx, again)
	if !errors.Is(err, auth.ErrExists) {
		t.Fatalf("CreateUser of a taken name = %v, want ErrExists", err)
	}
	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	checkUser(t, "user after the refused create", got, a)
	if all, err := s.ListUsers(ctx); err != nil || len(all) != 1 {
		t.Errorf("ListUsers = %v, %v; want one user", all, err)
	}
}

func testUpdateUser(t *testing.T, s auth.Store) {
	ctx := t.Context()
	a, b := user("alice", auth.RoleOperator), user("bob", auth.RoleViewer)
	for _, u := range []auth.User{a, b} {
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	upd := auth.User{
		Name:         "alice",
		Role:         auth.RoleSiteManager,
		PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g",
		Disabled:     true,
		Source:       "somewhere-else",        // kept: not replaced
		Created:      T0.Add(-24 * time.Hour), // kept: not replaced
		Updated:      T0.Add(2*time.Hour + 1500*time.Nanosecond),
	}
	if err := s.UpdateUser(ctx, upd); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	want := a
	want.Role, want.PasswordHash, want.Disabled, want.Updated = upd.Role, upd.PasswordHash, upd.Disabled, upd.Updated
	got, err := s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	checkUser(t, "updated user", got, want)
	// Back to enabled, no password: the flags go both ways.
	upd.Disabled, upd.PasswordHash = false, ""
	if err := s.UpdateUser(ctx, upd); err != nil {
		t.Fatal(err)
	}
	want.Disabled, want.PasswordHash = false, ""
	got, err = s.GetUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	checkUser(t, "re-enabled user", got, want)
	// The other user is untouched.
	got, err = s.GetUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	checkUser(t, "other user", got, b)
}

func testNotFound(t *testing.T, s auth.Store) {
	ctx := t.Context()
	if err := s.CreateUser(ctx, user("alice", auth.RoleAdmin)); err != nil {
		t.Fatal(err)
	}
	tok := token("tok_0000000000000001", "alice")
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, "nobody"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("GetUser(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.UpdateUser(ctx, user("nobody", auth.RoleAdmin)); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("UpdateUser(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.GetUser(ctx, "nobody"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("UpdateUser of an unknown user created it (GetUser = %v)", err)
	}
	if _, err := s.TokenByHash(ctx, Hash("not a token")); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("TokenByHash(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.RevokeToken(ctx, "tok_ffffffffffffffff", T0); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("RevokeToken(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.TouchToken(ctx, "tok_ffffffffffffffff", T0, "127.0.0.1:1"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("TouchToken(unknown) = %v, want ErrNotFound", err)
	}
	// Nothing else changed.
	got, err := s.TokenByHash(ctx, tok.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, "existing token", got, tok)
	if all, err := s.ListTokens(ctx); err != nil || len(all) != 1 {
		t.Errorf("ListTokens = %v, %v; want one token", all, err)
	}
	if all, err := s.ListUsers(ctx); err != nil || len(all) != 1 {
		t.Errorf("ListUsers = %v, %v; want one user", all, err)
	}
}

func testTokenRoundTrip(t *testing.T, s auth.Store) {
	ctx := t.Context()
	if ts, err := s.ListTokens(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("ListTokens of an empty store = %v, %v; want none", ts, err)
	}
	a := token("tok_00000000000000a1", "alice")
	b := token("tok_00000000000000b2", "bob")
	b.Kind, b.Role, b.Expires = auth.TokenSession, auth.RoleViewer, time.Time{} // never expires
	b.Created = T0.Add(time.Minute + 7*time.Nanosecond)
	for _, tk := range []auth.Token{a, b} {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatalf("CreateToken(%s): %v", tk.ID, err)
		}
	}
	for _, tk := range []auth.Token{a, b} {
		got, err := s.TokenByHash(ctx, tk.Hash)
		if err != nil {
			t.Fatalf("TokenByHash(%s): %v", tk.ID, err)
		}
		checkToken(t, "TokenByHash("+tk.ID+")", got, tk)
		if !got.Live(T0.Add(time.Hour)) {
			t.Errorf("token %s not live an hour after it was made: %+v", tk.ID, got)
		}
	}
	all, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("ListTokens = %+v, want two", all)
	}
	slices.SortFunc(all, func(x, y auth.Token) int { return compare(x.ID, y.ID) })
	checkToken(t, "ListTokens[a]", all[0], a)
	checkToken(t, "ListTokens[b]", all[1], b)
}

func testCreateTokenExists(t *testing.T, s auth.Store) {
	ctx := t.Context()
	a := token("tok_00000000000000a1", "alice")
	if err := s.CreateToken(ctx, a); err != nil {
		t.Fatal(err)
	}
	sameID := token("tok_00000000000000a1", "mallory")
	sameID.Hash = Hash("another secret")
	if err := s.CreateToken(ctx, sameID); !errors.Is(err, auth.ErrExists) {
		t.Errorf("CreateToken of a taken id = %v, want ErrExists", err)
	}
	if _, err := s.TokenByHash(ctx, sameID.Hash); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("the refused token can be found by its hash (err %v)", err)
	}
	// A hash is unique too: two tokens with one secret would be one
	// credential with two roles.
	sameHash := token("tok_00000000000000c3", "mallory")
	sameHash.Hash = a.Hash
	if err := s.CreateToken(ctx, sameHash); !errors.Is(err, auth.ErrExists) {
		t.Errorf("CreateToken of a taken hash = %v, want ErrExists", err)
	}
	got, err := s.TokenByHash(ctx, a.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, "token after the refused creates", got, a)
	if all, err := s.ListTokens(ctx); err != nil || len(all) != 1 {
		t.Errorf("ListTokens = %+v, %v; want only the first token", all, err)
	}
}

func testRevokeOnce(t *testing.T, s auth.Store) {
	ctx := t.Context()
	a, b := token("tok_00000000000000a1", "alice"), token("tok_00000000000000b2", "alice")
	for _, tk := range []auth.Token{a, b} {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	first := T0.Add(time.Hour + 321*time.Nanosecond)
	if err := s.RevokeToken(ctx, a.ID, first); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if err := s.RevokeToken(ctx, a.ID, first.Add(time.Hour)); err != nil {
		t.Fatalf("second RevokeToken: %v", err)
	}
	got, err := s.TokenByHash(ctx, a.Hash)
	if err != nil {
		t.Fatal(err)
	}
	want := a
	want.Revoked = first
	checkToken(t, "revoked token", got, want)
	if got.Live(first) || got.Live(T0) {
		t.Errorf("a revoked token is live: %+v", got)
	}
	got, err = s.TokenByHash(ctx, b.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, "the other token", got, b)
}

func testTouchNeverBack(t *testing.T, s auth.Store) {
	ctx := t.Context()
	a, b := token("tok_00000000000000a1", "alice"), token("tok_00000000000000b2", "alice")
	for _, tk := range []auth.Token{a, b} {
		if err := s.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	get := func() auth.Token {
		t.Helper()
		got, err := s.TokenByHash(ctx, a.Hash)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	t2 := T0.Add(2*time.Hour + 999*time.Nanosecond)
	if err := s.TouchToken(ctx, a.ID, t2, "127.0.0.1:40000"); err != nil {
		t.Fatalf("TouchToken: %v", err)
	}
	want := a
	want.LastUsed, want.LastFrom = t2, "127.0.0.1:40000"
	checkToken(t, "touched token", get(), want)

	// An older use (a request that was slower to finish) does not move it back.
	if err := s.TouchToken(ctx, a.ID, t2.Add(-time.Minute), "127.0.0.1:40001"); err != nil {
		t.Fatalf("TouchToken(older): %v", err)
	}
	if got := get(); !sameTime(got.LastUsed, t2) {
		t.Errorf("an older TouchToken moved LastUsed back: %v, want %v", got.LastUsed, us(t2))
	}
	t3 := t2.Add(time.Minute)
	if err := s.TouchToken(ctx, a.ID, t3, "127.0.0.2:40002"); err != nil {
		t.Fatalf("TouchToken(later): %v", err)
	}
	want.LastUsed, want.LastFrom = t3, "127.0.0.2:40002"
	checkToken(t, "token touched later", get(), want)

	got, err := s.TokenByHash(ctx, b.Hash)
	if err != nil {
		t.Fatal(err)
	}
	checkToken(t, "the other token", got, b)
}

func entry(i int, actor string, at time.Time) auth.AuditEntry {
	return auth.AuditEntry{
		At:     at,
		Actor:  actor,
		Role:   auth.RoleOperator,
		Kind:   auth.KindToken,
		Action: "incident.ack",
		Target: fmt.Sprintf("/api/v1/incidents/%d/ack", i),
		From:   "127.0.0.1:50000",
		Result: "ok",
		Detail: fmt.Sprintf(`{"n":%d,"note":"ünïcode ✓"}`, i),
	}
}

// CheckChain checks that es are the whole log, oldest first: Seq 1..len(es)
// with no gap, each Prev the Hash before ("" for the first), each Hash
// auth.ChainHash(Prev, entry), At in UTC to the microsecond.
func CheckChain(t testing.TB, es []auth.AuditEntry) {
	t.Helper()
	prev := ""
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d, want %d (gap or reorder)", i, e.Seq, i+1)
		}
		if e.Prev != prev {
			t.Fatalf("entry seq %d: prev %q, want the hash before, %q", e.Seq, e.Prev, prev)
		}
		if h := auth.ChainHash(e.Prev, e); e.Hash != h {
			t.Fatalf("entry seq %d: hash %s, ChainHash gives %s", e.Seq, e.Hash, h)
		}
		if e.At.Location() != time.UTC || !e.At.Equal(e.At.Truncate(time.Microsecond)) {
			t.Fatalf("entry seq %d: at %v, want UTC to the microsecond", e.Seq, e.At)
		}
		prev = e.Hash
	}
}

// ListAll reads the whole audit log page by page (AfterSeq), oldest first.
func ListAll(t testing.TB, s auth.Store) []auth.AuditEntry {
	t.Helper()
	var all []auth.AuditEntry
	for {
		after := int64(0)
		if len(all) > 0 {
			after = all[len(all)-1].Seq
		}
		page, err := s.ListAudit(context.Background(), auth.AuditFilter{AfterSeq: after, Limit: 500})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		if len(page) == 0 {
			return all
		}
		all = append(all, page...)
	}
}

func testAuditAppendChain(t *testing.T, s auth.Store) {
	ctx := t.Context()
	if es, err := s.ListAudit(ctx, auth.AuditFilter{}); err != nil || len(es) != 0 {
		t.Fatalf("ListAudit of an empty store = %v, %v; want none", es, err)
	}
	var appended []auth.AuditEntry
	for i := range 4 {
		e := entry(i, "alice", T0.Add(time.Duration(i)*time.Second+time.Duration(i)*777*time.Nanosecond))
		// What the store assigns, the caller cannot choose.
		e.Seq, e.Prev, e.Hash = 42, "forged-prev", "forged-hash"
		if i == 3 {
			e.Role, e.Kind, e.Detail, e.Target, e.From = "", auth.KindNone, "", "", ""
		}
		got, err := s.AppendAudit(ctx, e)
		if err != nil {
			t.Fatalf("AppendAudit #%d: %v", i, err)
		}
		want := e
		want.Seq, want.At = int64(i+1), us(e.At)
		if i == 0 {
			want.Prev = ""
		} else {
			want.Prev = appended[i-1].Hash
		}
		want.Hash = auth.ChainHash(want.Prev, want)
		checkEntry(t, fmt.Sprintf("AppendAudit #%d returned", i), got, want)
		appended = append(appended, got)
	}
	// The hash covers the time to the microsecond, in UTC: the same entry
	// given in another zone or with nanoseconds hashes the same.
	if h := auth.ChainHash(appended[1].Prev, withAt(appended[1], T0.Add(time.Second+777*time.Nanosecond))); h != appended[1].Hash {
		t.Errorf("ChainHash of the entry as given = %s, stored %s", h, appended[1].Hash)
	}
	listed, err := s.ListAudit(ctx, auth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(appended) {
		t.Fatalf("ListAudit returned %d entries, want %d", len(listed), len(appended))
	}
	for i := range listed {
		checkEntry(t, fmt.Sprintf("ListAudit[%d]", i), listed[i], appended[i])
	}
	CheckChain(t, listed)
}

func withAt(e auth.AuditEntry, at time.Time) auth.AuditEntry {
	e.At = at
	return e
}

func testAuditZeroAt(t *testing.T, s auth.Store) {
	ctx := t.Context()
	before := time.Now().Add(-time.Second)
	got, err := s.AppendAudit(ctx, entry(0, "alice", time.Time{}))
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	if got.At.Before(before) || got.At.After(after) || got.At.Location() != time.UTC {
		t.Errorf("AppendAudit with no At stored at %v, want the store's clock (about %v), UTC", got.At, before)
	}
	CheckChain(t, ListAll(t, s))
}

func testAuditFilter(t *testing.T, s auth.Store) {
	ctx := t.Context()
	// 12 entries, one a minute from T0, actors alice, bob, carol in turn.
	actors := []string{"alice", "bob", "carol"}
	for i := range 12 {
		if _, err := s.AppendAudit(ctx, entry(i, actors[i%3], T0.Add(time.Duration(i)*time.Minute))); err != nil {
			t.Fatal(err)
		}
	}
	at := func(i int) time.Time { return T0.Add(time.Duration(i) * time.Minute) }
	for _, tt := range []struct {
		name string
		f    auth.AuditFilter
		want []int64 // seqs
	}{
		{"all", auth.AuditFilter{}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"limit", auth.AuditFilter{Limit: 5}, []int64{1, 2, 3, 4, 5}},
		{"limit above the maximum", auth.AuditFilter{Limit: 1 << 30}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}},
		{"after seq", auth.AuditFilter{AfterSeq: 9}, []int64{10, 11, 12}},
		{"after the last", auth.AuditFilter{AfterSeq: 12}, nil},
		// [From, To): From included, To excluded, to the microsecond.
		{"from", auth.AuditFilter{From: at(10)}, []int64{11, 12}},
		{"from a microsecond later", auth.AuditFilter{From: at(10).Add(time.Microsecond)}, []int64{12}},
		{"to", auth.AuditFilter{To: at(2)}, []int64{1, 2}},
		{"to a microsecond later", auth.AuditFilter{To: at(2).Add(time.Microsecond)}, []int64{1, 2, 3}},
		{"from to", auth.AuditFilter{From: at(3), To: at(6)}, []int64{4, 5, 6}},
		{"from to in UTC", auth.AuditFilter{From: at(3).UTC(), To: at(6).UTC()}, []int64{4, 5, 6}},
		{"empty range", auth.AuditFilter{From: at(6), To: at(6)}, nil},
		{"actor", auth.AuditFilter{Actor: "bob"}, []int64{2, 5, 8, 11}},
		{"unknown actor", auth.AuditFilter{Actor: "mallory"}, nil},
		{"everything", auth.AuditFilter{Actor: "carol", From: at(2), To: at(11), AfterSeq: 3, Limit: 2}, []int64{6, 9}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if !slices.Equal(seqs, tt.want) {
				t.Errorf("ListAudit(%+v) seqs = %v, want %v", tt.f, seqs, tt.want)
			}
		})
	}
}

// Concurrency of testAuditConcurrent: more entries than the default limit.
const (
	concurrentWriters = 8
	concurrentEach    = 130
)

func testAuditConcurrent(t *testing.T, s auth.Store) {
	all := AppendConcurrently(t, []auth.Store{s}, concurrentWriters, concurrentEach)
	ctx := t.Context()
	// The default limit is 1000.
	page, err := s.ListAudit(ctx, auth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 1000 {
		t.Fatalf("ListAudit with no limit returned %d of %d entries, want 1000", len(page), len(all))
	}
	rest, err := s.ListAudit(ctx, auth.AuditFilter{AfterSeq: page[len(page)-1].Seq})
	if err != nil {
		t.Fatal(err)
	}
	if len(page)+len(rest) != len(all) {
		t.Errorf("two pages hold %d+%d entries, want %d", len(page), len(rest), len(all))
	}
}

// AppendConcurrently appends each entries from goroutines goroutines on
// every store at once (stores may be several handles on one database),
// then checks that the log holds Seq 1..N with one valid chain and that
// every append returned the entry stored under its Seq. It returns the
// whole log.
func AppendConcurrently(t *testing.T, stores []auth.Store, goroutines, each int) []auth.AuditEntry {
	t.Helper()
	ctx := t.Context()
	var (
		mu       sync.Mutex
		returned []auth.AuditEntry
		wg       sync.WaitGroup
		errs     = make(chan error, len(stores)*goroutines)
		start    = make(chan struct{})
	)
	for si, s := range stores {
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := range each {
					e := entry(i, fmt.Sprintf("store%d-writer%d", si, g), time.Now())
					got, err := s.AppendAudit(ctx, e)
					if err != nil {
						errs <- fmt.Errorf("store %d writer %d append %d: %w", si, g, i, err)
						return
					}
					mu.Lock()
					returned = append(returned, got)
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	n := len(stores) * goroutines * each
	all := ListAll(t, stores[0])
	if len(all) != n {
		t.Fatalf("log holds %d entries after %d appends", len(all), n)
	}
	CheckChain(t, all)
	if len(returned) != n {
		t.Fatalf("%d appends returned, want %d", len(returned), n)
	}
	for _, r := range returned {
		if r.Seq < 1 || r.Seq > int64(n) {
			t.Fatalf("an append returned seq %d, outside 1..%d", r.Seq, n)
		}
		checkEntry(t, fmt.Sprintf("entry %d as returned by its append", r.Seq), r, all[r.Seq-1])
	}
	// Every other store sees the same log.
	for i, s := range stores[1:] {
		other := ListAll(t, s)
		if !slices.Equal(other, all) {
			t.Errorf("store %d lists a different log (%d entries)", i+1, len(other))
		}
	}
	return all
}
