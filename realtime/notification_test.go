package realtime

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseNotification(t *testing.T) {
	t.Parallel()
	good := []struct {
		payload string
		want    notification
	}{
		// As the trigger writes it (extract(epoch ...)::text) and as the
		// announcer does (six decimals).
		{`{"at":1765154000.123456,"jobs":[[42,"running"],[9223372036854775807,"completed"]]}`,
			notification{At: 1765154000.123456, Jobs: []jobChange{{42, "running"}, {9223372036854775807, "completed"}}}},
		{`{"at":1765154000,"jobs":[[1,"deleted"]]}`, notification{At: 1765154000, Jobs: []jobChange{{1, "deleted"}}}},
		{`{"at":0,"jobs":[]}`, notification{At: 0, Jobs: []jobChange{}}},
		// Any JSON of that shape.
		{" {\n \"jobs\" : [ [ 7 , \"available\" ] ] ,\t\"at\" : 1.5e9 } ",
			notification{At: 1.5e9, Jobs: []jobChange{{7, "available"}}}},
		{`{"at":-0.5,"jobs":[[-3,""]]}`, notification{At: -0.5, Jobs: []jobChange{{-3, ""}}}},
	}
	for _, tc := range good {
		got, err := parseNotification(tc.payload)
		require.NoError(t, err, tc.payload)
		require.Equal(t, tc.want, got, tc.payload)
	}

	for _, bad := range []string{
		``,
		`[]`,
		`{}`,
		`{"at":1}`,
		`{"jobs":[]}`,
		`{"at":1,"jobs":[],"x":1}`,          // no other members
		`{"at":1,"at":2,"jobs":[]}`,         // each once
		`{"at":"1","jobs":[]}`,              // at is a number
		`{"at":01,"jobs":[]}`,               // no leading zeros
		`{"at":+1,"jobs":[]}`,               // no plus sign
		`{"at":1.,"jobs":[]}`,               // digits after the point
		`{"at":1,"jobs":[["1","running"]]}`, // ids are numbers
		`{"at":1,"jobs":[[1.5,"running"]]}`, // integers
		`{"at":1,"jobs":[[1e3,"running"]]}`, // written as integers
		`{"at":1,"jobs":[[99999999999999999999,"running"]]}`,
		`{"at":1,"jobs":[[1,"run\"ning"]]}`,              // no escapes
		`{"at":1,"jobs":[[1,"runn` + "\xc3\xa9" + `"]]}`, // ASCII
		`{"at":1,"jobs":[[1,running]]}`,
		`{"at":1,"jobs":[[1,"running",2]]}`,
		`{"at":1,"jobs":[[1,"running"],]}`,
		`{"at":1,"jobs":[[1,"running"]]`,
		`{"at":1,"jobs":[[1,"running"]]}x`,
		`{"at":1,"jobs":[[1,"running"]]}{}`,
	} {
		_, err := parseNotification(bad)
		require.Error(t, err, bad)
	}
}

// Whatever parseNotification accepts, encoding/json reads the same way:
// it is a faster reader of the same JSON, never a different format.
func FuzzParseNotification(f *testing.F) {
	for _, seed := range []string{
		`{"at":1765154000.123456,"jobs":[[42,"running"],[43,"completed"]]}`,
		`{"jobs":[],"at":0}`,
		` { "at" : -1e-3 , "jobs" : [ [ 0 , "x" ] ] } `,
		`{"at":1,"jobs":[[1,"a"],[1,"b"]]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		got, err := parseNotification(payload)
		if err != nil {
			return
		}
		var raw struct {
			At   json.RawMessage   `json:"at"`
			Jobs []json.RawMessage `json:"jobs"`
		}
		require.NoError(t, json.Unmarshal([]byte(payload), &raw), "accepted what encoding/json refuses: %q", payload)
		require.NotNil(t, raw.At)
		at := 0.0
		require.NoError(t, json.Unmarshal(raw.At, &at))
		require.Equal(t, at, got.At)
		require.Len(t, got.Jobs, len(raw.Jobs))
		for i, entry := range raw.Jobs {
			var pair []json.RawMessage
			require.NoError(t, json.Unmarshal(entry, &pair))
			require.Len(t, pair, 2)
			var id int64
			var state string
			require.NoError(t, json.Unmarshal(pair[0], &id))
			require.NoError(t, json.Unmarshal(pair[1], &state))
			require.Equal(t, jobChange{id, state}, got.Jobs[i])
		}
	})
}
