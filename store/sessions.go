package store

import (
	"context"
	"time"

	"github.com/bespin/bespin/db"
)

// Session is a browser session as stored: never its secret, only the
// secret's hash, and the fingerprint of the API token it was made from
// (see sql/migrations/000015_sessions.up.sql).
type Session struct {
	IDHash           []byte
	TokenFingerprint []byte
	CreatedAt        time.Time
	ExpiresAt        time.Time
}

// NewSession is a session to store; it lasts TTL from now by the
// database's clock.
type NewSession struct {
	IDHash           []byte
	TokenFingerprint []byte
	TTL              time.Duration
}

// CreateSession stores s, deletes the sessions that have expired, and
// returns when s expires.
func (s *Store) CreateSession(ctx context.Context, ns NewSession) (time.Time, error) {
	if _, err := s.q.SessionDeleteExpired(ctx, s.conn); err != nil {
		return time.Time{}, Classify(err, "delete expired sessions")
	}
	expires, err := s.q.SessionInsert(ctx, s.conn, db.SessionInsertParams{
		IDHash: ns.IDHash, TokenFingerprint: ns.TokenFingerprint, TtlSeconds: ns.TTL.Seconds(),
	})
	if err != nil {
		return time.Time{}, Classify(err, "insert session")
	}
	return expires, nil
}

// Session reads the unexpired session whose id hashes to idHash;
// ErrNotFound when there is none (never was, signed out, or expired).
func (s *Store) Session(ctx context.Context, idHash []byte) (Session, error) {
	r, err := s.q.SessionGetByIDHash(ctx, s.conn, idHash)
	if Kind(err) == ErrNotFound {
		return Session{}, notFound("The session has ended or expired; sign in again.")
	}
	if err != nil {
		return Session{}, Classify(err, "read session")
	}
	return Session{IDHash: r.IDHash, TokenFingerprint: r.TokenFingerprint, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}, nil
}

// DeleteSession ends the session whose id hashes to idHash, if any.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	return Classify(s.q.SessionDelete(ctx, s.conn, idHash), "delete session")
}
