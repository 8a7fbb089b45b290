package store

import (
	"encoding/base64"
	"strings"
)

// Lists are keyset-paginated: a page ends with an opaque cursor naming the
// last row it holds, and the next page starts after that row. A cursor is
// base64url("<list>:<field>|<field>..."): the list it belongs to, so that
// a job cursor given to the receipts list is refused, then the key of the
// last row. Clients must treat it as opaque.

var errBadCursor = &Error{Kind: ErrBadCursor, Message: "cursor is not one this API returned; start again without it."}

func encodeCursor(list string, fields ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(list + ":" + strings.Join(fields, "|")))
}

// decodeCursor returns the n fields of a cursor of list, or errBadCursor.
func decodeCursor(list, cursor string, n int) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, errBadCursor
	}
	rest, ok := strings.CutPrefix(string(b), list+":")
	if !ok {
		return nil, errBadCursor
	}
	fields := strings.Split(rest, "|")
	if len(fields) != n {
		return nil, errBadCursor
	}
	return fields, nil
}
