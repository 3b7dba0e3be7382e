package client

import (
	"net/url"
	"strconv"
)

// listQuery is the query of a listing: each filter given as a name and a
// value, left out when the value is empty, and limit when positive (0 is
// the server's default).
func listQuery(limit int, filters ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(filters); i += 2 {
		if filters[i+1] != "" {
			q.Set(filters[i], filters[i+1])
		}
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}
